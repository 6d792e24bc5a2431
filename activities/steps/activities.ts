// The worker side of the registry: each kind's implementation bound to its name (tsc checks that every kind of
// activities/steps/registry.ts has one), and the activity objects the two workers register. Every activity of a kind
// is `runStep(impl, deps, input)`: the kernel's lifecycle (activities/kernel/lifecycle.ts).
import type { StepInput } from '../../contracts/step-input.js';
import type { StepResult } from '../../contracts/step-result.js';
import type { EtlDeps } from '../duckdb/files.js';
import type { LakeDeps } from '../kernel/input.js';
import { runStep, type StepImpl } from '../kernel/lifecycle.js';
import { loadConfig } from '../common/config.js';
import { resolveDeps, type GpuActivityDeps } from '../trainer/deps.js';
import { createPartitionActivities } from './partition-activities.js';
import type { StepKind } from './registry.js';
import { cleanStep } from './clean/activity.js';
import { evaluateStep } from './evaluate/activity.js';
import { featuresStep } from './features/activity.js';
import { promoteStep } from './promote/activity.js';
import { sqlStep } from './sql/activity.js';
import { trainStep } from './train/activity.js';

/** Each kind's implementation. A kind in the registry without one here fails `tsc`. */
export const STEP_IMPLS = {
  clean: cleanStep,
  features: featuresStep,
  sql: sqlStep,
  train: trainStep,
  evaluate: evaluateStep,
  promote: promoteStep,
} satisfies { [K in StepKind]: { kind: K } };

/** The activity of kind K as the workflow calls it. */
export type StepActivity<K extends StepKind> = (input: StepInput<K>) => Promise<StepResult>;

function bind<K extends StepKind>(kind: K, deps: LakeDeps): StepActivity<K> {
  const impl = STEP_IMPLS[kind] as unknown as StepImpl<K, LakeDeps, unknown>;
  return (input) => runStep(impl, deps, input);
}

/**
 * The lakeforge-etl queue's step activities (clean, features, sql) and the partition activities of partitioned
 * steps, bound to one worker's DuckDB instance.
 */
export function createEtlActivities(deps: EtlDeps) {
  return {
    clean: bind('clean', deps),
    features: bind('features', deps),
    sql: bind('sql', deps),
    ...createPartitionActivities(deps),
  };
}

/** Promotion reads the evaluation and writes champion.json: lake I/O only, so the ETL queue serves it by default. */
export function createPromoteActivities(deps: LakeDeps = {}) {
  return { promote: bind('promote', { ...deps, home: deps.home ?? loadConfig().home }) };
}

/**
 * The activities of the lakeforge-gpu queue. Promote is served here too, so runs started before promotion moved to
 * the ETL queue (or pinned to the GPU queue with a step `queue:`) still complete.
 */
export function createGpuActivities(deps: GpuActivityDeps = {}) {
  const d = resolveDeps(deps);
  return { train: bind('train', d), evaluate: bind('evaluate', d), promote: bind('promote', d) };
}

/** Every step activity, as the pipeline workflow proxies them (`import type` only, in workflows/pipeline.ts). */
export type StepActivities = { [K in StepKind]: StepActivity<K> };
export type EtlActivities = ReturnType<typeof createEtlActivities>;
export type GpuActivities = ReturnType<typeof createGpuActivities>;
