// The step kernel (docs/design.md#the-step-lifecycle): the one lifecycle every kind goes through.
//   parse the input → resolve and verify the upstream outputs → plan (version, output directories)
//   → cache check (manifests and files) → compute into work directories (the kind stages what it reads)
//   → check the manifests → publish manifest-last (one rule for a concurrent publisher) → StepResult
// A kind supplies only `plan` and `compute`; everything else, including dropping work directories on failure, is here.
import type { StepResult } from '../../contracts/step-result.js';
import { invariantViolated } from '../../contracts/failures.js';
import { stepInputSchema, type ParsedStepInput } from '../../contracts/step-input.js';
import type { StepDefinition } from '../../contracts/step-kind.js';
import type { StepKind } from '../../steps/registry.js';
import { REGISTRY } from '../../steps/registry.js';
import type { LakeStorage, Manifest } from '../lake/index.js';
import type { StepControl } from './context.js';
import { openStepLake, parseInput, resolveInput, stepControl, type LakeDeps, type ResolvedInput } from './input.js';
import { cachedResult, publishOutputs, withWorkDirs } from './publish.js';

export interface StepContext<K extends StepKind, D> {
  input: ParsedStepInput<K>;
  params: ParsedStepInput<K>['params'];
  deps: D;
  lake: LakeStorage;
  control: StepControl;
  /** Each upstream role's verified publication. */
  upstream: { [R in keyof ParsedStepInput<K>['inputs']]: ResolvedInput };
}

/** What a kind's plan decides: its version and output directories (the primary one last), or a finished result. */
export type StepPlan<S> = { version: string; outputs: string[]; state: S } | { result: StepResult };

export interface StepImpl<K extends StepKind, D, S = undefined> {
  kind: K;
  /** The kind's declaration; default the registry's entry for `kind` (a project's own kinds bring theirs). */
  definition?: StepDefinition;
  plan(c: StepContext<K, D>): Promise<StepPlan<S>>;
  /** Computes into `workDirs` (one per planned output, same order) and returns their manifests. */
  compute(c: StepContext<K, D> & { version: string; outputs: string[]; workDirs: string[]; state: S }): Promise<Manifest[]>;
  /** Runs once compute and publish are over, published or not (local scratch, heartbeat loops). */
  finish?(c: StepContext<K, D> & { state: S }, outcome: { published: boolean; error?: unknown }): Promise<void>;
}

/**
 * The lifecycle's first half only: parse, resolve upstream outputs, plan, cache check. The cached StepResult, or
 * null on a miss. Lets a worker without the kind's resources (a GPU) answer a cache hit (steps/probe.ts).
 */
export async function probeStep<K extends StepKind, D extends LakeDeps, S>(impl: StepImpl<K, D, S>, deps: D, raw: unknown): Promise<StepResult | null> {
  const { lake, plan } = await prepare(impl, deps, raw);
  if ('result' in plan) return null; // a kind that decides in its plan (promote) has nothing cached to probe
  return cachedResult(lake, plan.version, plan.outputs);
}

async function prepare<K extends StepKind, D extends LakeDeps, S>(impl: StepImpl<K, D, S>, deps: D, raw: unknown) {
  const def = impl.definition ?? (REGISTRY[impl.kind] as unknown as StepDefinition);
  const input = parseInput(stepInputSchema(def), raw, impl.kind) as ParsedStepInput<K>;
  const lake = openStepLake(deps, input.lake);
  const control = stepControl(deps);
  const upstream: Record<string, ResolvedInput> = {};
  for (const [role, ref] of Object.entries(input.inputs as Record<string, StepResult>)) upstream[role] = await resolveInput(lake, ref, role);
  const c = { input, params: input.params, deps, lake, control, upstream } as StepContext<K, D>;
  return { c, lake, control, plan: await impl.plan(c) };
}

/**
 * The first half with its context, for a kind's helper activities that work towards the step's output without
 * publishing it (predict's shards): the parsed context, the plan, and the cached result when there is one.
 */
export async function planStep<K extends StepKind, D extends LakeDeps, S>(impl: StepImpl<K, D, S>, deps: D, raw: unknown) {
  const prepared = await prepare(impl, deps, raw);
  const hit = 'result' in prepared.plan ? null : await cachedResult(prepared.lake, prepared.plan.version, prepared.plan.outputs);
  return { ...prepared, hit };
}

export async function runStep<K extends StepKind, D extends LakeDeps, S>(impl: StepImpl<K, D, S>, deps: D, raw: unknown): Promise<StepResult> {
  const { c, lake, control, plan } = await prepare(impl, deps, raw);
  if ('result' in plan) return plan.result;
  const hit = await cachedResult(lake, plan.version, plan.outputs);
  if (hit) return hit;

  let outcome: { published: boolean; error?: unknown } = { published: false };
  try {
    const result = await withWorkDirs(lake, plan.outputs, async (workDirs) => {
      const manifests = await impl.compute({ ...c, version: plan.version, outputs: plan.outputs, workDirs, state: plan.state });
      if (manifests.length !== plan.outputs.length || manifests.some((m) => m.version !== plan.version)) {
        throw invariantViolated(`${impl.kind}: computed manifests (${manifests.map((m) => m.version).join(', ')}) do not match the planned version ${plan.version} × ${plan.outputs.length}`);
      }
      return publishOutputs(lake, control, plan.outputs.map((rel, i) => ({ rel, workDir: workDirs[i], manifest: manifests[i] })));
    });
    outcome = { published: true };
    return result;
  } catch (error) {
    outcome = { published: false, error };
    throw error;
  } finally {
    await impl.finish?.({ ...c, state: plan.state }, outcome);
  }
}
