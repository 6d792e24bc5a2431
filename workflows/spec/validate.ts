// Turns an untrusted spec into a validated DAG plan, or into errors that each name the field at fault.
// Pure code: runs in the CLI before anything starts, and again inside pipelineWorkflow.
import { REGISTRY, type StepKind } from '../../steps/registry.js';
import type { SpecError } from '../../contracts/spec-error.js';
import type { InputRole, StepDefinition } from '../../contracts/step-kind.js';
import { PipelineSpecSchema, type PipelineSpec, type StepSpec } from '../../contracts/spec.js';
import type { UserKind } from '../../contracts/user-kind.js';
import { z } from 'zod';
export type { SpecError } from '../../contracts/spec-error.js';

export interface PlannedStep {
  name: string;
  /** A built-in kind of the registry, or a project's own (then `user` is set). */
  kind: StepKind;
  /** For a project step: its declaration (queue, timeouts, runtime), as it travelled in the run's input. */
  user?: UserKind;
  needs: string[];
  /** The step's parameters after defaults and dataset-level declarations are applied. */
  params: Record<string, unknown>;
  /** For train/evaluate/promote: the model name this step works on. */
  model?: string;
  /** The step providing each of the kind's input roles (registry `inputs`), e.g. { trained: 'train', features: 'features' }. */
  inputs: Record<string, string>;
  spec: StepSpec;
}

export interface PipelinePlan {
  spec: PipelineSpec;
  /** Steps in a topological order (every step after all it needs). */
  steps: PlannedStep[];
}

export type ValidationResult = { ok: true; plan: PipelinePlan } | { ok: false; errors: SpecError[] };

const orList = (kinds: readonly string[]) => (kinds.length > 1 ? `${kinds.slice(0, -1).join(', ')} or ${kinds[kinds.length - 1]}` : kinds[0]);

export function formatPath(path: (string | number)[]): string {
  return path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${p}` : p), '');
}

export interface ValidateOptions {
  /** The project's own step kinds (lakeforge.config.ts), as declared in the run's input. */
  kinds?: UserKind[];
  /** Their `with:` schemas, where the code is at hand (the CLI and SDK): checked before anything starts. */
  paramSchemas?: Record<string, z.ZodType>;
}

/** A project kind as a registry entry; its params are checked here only where its schema is at hand. */
function userDefinition(k: UserKind, schema: z.ZodType | undefined): StepDefinition {
  return {
    kind: k.kind, description: k.description, params: schema ?? z.record(z.string(), z.unknown()), inputs: k.inputs, queue: k.queue,
    timeout: k.timeout as StepDefinition['timeout'], heartbeatTimeout: k.heartbeatTimeout as StepDefinition['heartbeatTimeout'], retry: k.retry, model: 'none',
  };
}

export function validatePipeline(raw: unknown, opts: ValidateOptions = {}): ValidationResult {
  const userKinds = new Map((opts.kinds ?? []).map((k) => [k.kind, k]));
  const parsed = PipelineSpecSchema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, errors: parsed.error.issues.map((i) => ({ path: i.path as (string | number)[], message: i.message })) };
  }
  const spec = parsed.data;
  const errors: SpecError[] = [];
  const index = new Map<string, number>();
  spec.steps.forEach((s, i) => {
    if (index.has(s.name)) errors.push({ path: ['steps', i, 'name'], message: `duplicate step name "${s.name}"` });
    else index.set(s.name, i);
  });
  spec.steps.forEach((s, i) =>
    s.needs.forEach((n, j) => {
      if (!index.has(n)) errors.push({ path: ['steps', i, 'needs', j], message: `unknown step "${n}" in needs of "${s.name}"` });
      if (n === s.name) errors.push({ path: ['steps', i, 'needs', j], message: `step "${s.name}" needs itself` });
    }),
  );
  if (errors.length) return { ok: false, errors };

  const order = topologicalOrder(spec, index, errors);
  if (!order) return { ok: false, errors };

  const byName = new Map(spec.steps.map((s) => [s.name, s]));
  const planned = new Map<string, PlannedStep>();
  for (const name of order) {
    const i = index.get(name)!;
    const s = byName.get(name)!;
    const user = userKinds.get(s.uses);
    if (!Object.hasOwn(REGISTRY, s.uses) && !user) {
      const known = [...Object.keys(REGISTRY), ...userKinds.keys()];
      errors.push({ path: ['steps', i, 'uses'], message: `unknown step kind "${s.uses}" (known: ${known.join(', ')}${userKinds.size ? '' : '; a project\'s own steps are known inside its directory'})` });
      continue;
    }
    const def = user ? userDefinition(user, opts.paramSchemas?.[user.kind]) : (REGISTRY[s.uses as StepKind] as unknown as StepDefinition);
    const step: PlannedStep = { name, kind: s.uses as StepKind, needs: s.needs, params: {}, inputs: {}, spec: s, ...(user ? { user } : {}) };
    // `user` in an accepted-kinds list stands for any project step.
    const accepts = (kinds: readonly string[], uses: string) => kinds.includes(uses) || (kinds.includes('user') && userKinds.has(uses));
    let bad = false;
    // Each input role: exactly one direct need of an accepted kind, or the same role of the step bound to `via`.
    for (const [role, r] of Object.entries(def.inputs as Record<string, InputRole>)) {
      if ('kinds' in r) {
        const found = s.needs.filter((n) => accepts(r.kinds, byName.get(n)!.uses));
        if (found.length !== 1) {
          errors.push({ path: ['steps', i, 'needs'], message: `a ${s.uses} step needs exactly one ${orList(r.kinds.map((k) => (k === 'user' ? 'project' : k)))} step, "${name}" needs ${found.length}` });
          bad = true;
          break;
        }
        step.inputs[role] = found[0];
      } else {
        const via = planned.get(step.inputs[r.via]);
        if (via?.inputs[role]) step.inputs[role] = via.inputs[role];
      }
    }
    if (bad) continue;
    if (def.model === 'own') step.model = (s as { model?: string }).model ?? spec.model ?? spec.name;
    else if (def.model === 'upstream') step.model = planned.get(Object.values(step.inputs)[0])?.model;
    const ctx = { spec: { name: spec.name, model: spec.model, dataset: spec.dataset as Record<string, unknown> }, stepName: name };
    const rawParams = def.defaults ? def.defaults(s.with as Record<string, unknown>, ctx) : (s.with as Record<string, unknown>);
    const r = def.params.safeParse(rawParams);
    if (!r.success) {
      for (const issue of r.error.issues) errors.push({ path: ['steps', i, 'with', ...(issue.path as (string | number)[])], message: issue.message });
      continue;
    }
    step.params = r.data as Record<string, unknown>;
    if (def.check) {
      const checked = def.check(step.params, ctx);
      if (checked.errors.length) {
        for (const e of checked.errors) errors.push({ path: ['steps', i, ...e.path], message: e.message });
        continue;
      }
      step.params = checked.params as Record<string, unknown>;
    }
    planned.set(name, step);
  }
  if (errors.length) return { ok: false, errors };
  return { ok: true, plan: { spec, steps: order.map((n) => planned.get(n)!) } };
}

/** Kahn's algorithm, stable in spec order; reports the steps on a cycle. */
function topologicalOrder(spec: PipelineSpec, index: Map<string, number>, errors: SpecError[]): string[] | null {
  const indegree = new Map(spec.steps.map((s) => [s.name, s.needs.length]));
  const dependents = new Map<string, string[]>(spec.steps.map((s) => [s.name, []]));
  for (const s of spec.steps) for (const n of s.needs) dependents.get(n)!.push(s.name);
  const ready = spec.steps.filter((s) => s.needs.length === 0).map((s) => s.name);
  const order: string[] = [];
  while (ready.length) {
    const n = ready.shift()!;
    order.push(n);
    for (const d of dependents.get(n)!) {
      indegree.set(d, indegree.get(d)! - 1);
      if (indegree.get(d) === 0) ready.push(d);
    }
  }
  if (order.length === spec.steps.length) return order;
  const stuck = spec.steps.filter((s) => !order.includes(s.name)).map((s) => s.name);
  errors.push({ path: ['steps', index.get(stuck[0])!, 'needs'], message: `cycle among steps: ${stuck.join(' → ')}` });
  return null;
}
