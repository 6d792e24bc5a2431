// Turns an untrusted spec into a validated DAG plan, or into errors that each name the field at fault.
// Pure code: runs in the CLI before anything starts, and again inside pipelineWorkflow.
import { z } from 'zod';
import { CleanParamsSchema, FeaturesParamsSchema, RESERVED_LAKE_DIRS, SqlParamsSchema } from '../../activities/steps/clean/params.js';
import { EvaluateParamsSchema, PromoteParamsSchema, TrainParamsSchema } from '../../activities/steps/train/params.js';
import { PipelineSpecSchema, type PipelineSpec, type StepKind, type StepSpec } from '../../contracts/spec.js';

export interface SpecError {
  /** Path into the spec, e.g. ['steps', 2, 'needs', 0]. */
  path: (string | number)[];
  message: string;
}

export interface PlannedStep {
  name: string;
  kind: StepKind;
  needs: string[];
  /** The step's parameters after defaults and dataset-level declarations are applied. */
  params: Record<string, unknown>;
  /** For train/evaluate/promote: the model name this step works on. */
  model?: string;
  /** The needed step that provides this kind's input (clean or sql for features, features for train, ...). */
  inputStep?: string;
  /** For evaluate: the features step its model was trained on. */
  featuresStep?: string;
  spec: StepSpec;
}

export interface PipelinePlan {
  spec: PipelineSpec;
  /** Steps in a topological order (every step after all it needs). */
  steps: PlannedStep[];
}

export type ValidationResult = { ok: true; plan: PipelinePlan } | { ok: false; errors: SpecError[] };

/** Which kinds of step each kind takes its input from (exactly one of them among its needs). */
const INPUT_KIND: Partial<Record<StepKind, StepKind[]>> = {
  features: ['clean', 'sql'],
  sql: ['clean', 'features', 'sql'],
  train: ['features'],
  evaluate: ['train'],
  promote: ['evaluate'],
};

/** Each step kind's parameters (its `with:`), checked after the DAG so one pass reports every error. */
const paramSchemas: Record<StepKind, z.ZodType> = {
  clean: CleanParamsSchema,
  features: FeaturesParamsSchema,
  train: TrainParamsSchema,
  evaluate: EvaluateParamsSchema,
  promote: PromoteParamsSchema,
  sql: SqlParamsSchema,
};

export function formatPath(path: (string | number)[]): string {
  return path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${p}` : p), '');
}

export function validatePipeline(raw: unknown): ValidationResult {
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
    const step: PlannedStep = { name, kind: s.uses, needs: s.needs, params: {}, spec: s };
    const wantKinds = INPUT_KIND[s.uses];
    if (wantKinds) {
      const inputs = s.needs.filter((n) => wantKinds.includes(byName.get(n)!.uses));
      if (inputs.length !== 1) {
        const kinds = wantKinds.length > 1 ? `${wantKinds.slice(0, -1).join(', ')} or ${wantKinds[wantKinds.length - 1]}` : wantKinds[0];
        errors.push({ path: ['steps', i, 'needs'], message: `a ${s.uses} step needs exactly one ${kinds} step, "${name}" needs ${inputs.length}` });
        continue;
      }
      step.inputStep = inputs[0];
    }
    if (s.uses === 'train') step.model = s.model ?? spec.model ?? spec.name;
    if (s.uses === 'evaluate' || s.uses === 'promote') {
      const upstream = planned.get(step.inputStep!);
      step.model = upstream?.model;
      step.featuresStep = s.uses === 'evaluate' ? upstream?.inputStep : upstream?.featuresStep;
    }
    const rawParams = s.uses === 'clean' ? cleanDefaults(spec, s.with as Record<string, unknown>) : (s.with as Record<string, unknown>);
    const r = paramSchemas[s.uses].safeParse(rawParams);
    if (!r.success) {
      for (const issue of r.error.issues) errors.push({ path: ['steps', i, 'with', ...(issue.path as (string | number)[])], message: issue.message });
      continue;
    }
    step.params = r.data as Record<string, unknown>;
    if (s.uses === 'sql') {
      // The output directory defaults to the step's name, which must then not be one of the lake's own trees.
      const output = (step.params.output as string | undefined) ?? name;
      if ((RESERVED_LAKE_DIRS as readonly string[]).includes(output)) {
        errors.push({ path: ['steps', i, 'name'], message: `a sql step publishes under <output>/<dataset>/, and "${output}" is reserved for the lake layout: rename the step or set with.output` });
        continue;
      }
      step.params = { ...step.params, output };
    }
    planned.set(name, step);
  }
  if (errors.length) return { ok: false, errors };
  return { ok: true, plan: { spec, steps: order.map((n) => planned.get(n)!) } };
}

/** The dataset's declared schema, key and labels are the clean step's defaults; the step's own `with` wins. */
function cleanDefaults(spec: PipelineSpec, own: Record<string, unknown>): Record<string, unknown> {
  const d = spec.dataset;
  const defaults: Record<string, unknown> = {};
  if (d.columns) defaults.columns = d.columns;
  if (d.key) defaults.key = d.key;
  if (d.timestamp) defaults.timestamp = d.timestamp;
  if (d.labels) defaults.labels = d.labels;
  return { ...defaults, ...own };
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
