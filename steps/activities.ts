// The worker side of the registry: each kind's implementation bound to its name (tsc checks that every kind of
// steps/registry.ts has one), and the activity objects the two workers register. Every activity of a kind
// is `runStep(impl, deps, input)`: the kernel's lifecycle (activities/kernel/lifecycle.ts).
import type { StepInput } from '../contracts/step-input.js';
import type { StepResult } from '../contracts/step-result.js';
import type { EtlDeps } from '../activities/duckdb/files.js';
import type { LakeDeps } from '../activities/kernel/input.js';
import { runStep, type StepImpl } from '../activities/kernel/lifecycle.js';
import { loadConfig } from '../activities/common/config.js';
import { resolveDeps, type GpuActivityDeps } from '../activities/trainer/deps.js';
import { createPartitionActivities } from './partition-activities.js';
import { createProbeActivities } from './probe.js';
import { REGISTRY, STEP_KINDS, type StepKind } from './registry.js';
import { cleanStep } from './clean/activity.js';
import { evaluateStep } from './evaluate/activity.js';
import { featuresStep } from './features/activity.js';
import { predictShardActivity, predictStep } from './predict/activity.js';
import { promoteStep } from './promote/activity.js';
import { sqlStep } from './sql/activity.js';
import { trainStep } from './train/activity.js';
import { trainNodeActivity } from './train/node.js';

/** Each kind's implementation. A kind in the registry without one here fails `tsc`. */
export const STEP_IMPLS = {
  clean: cleanStep,
  features: featuresStep,
  sql: sqlStep,
  train: trainStep,
  evaluate: evaluateStep,
  promote: promoteStep,
  predict: predictStep,
} satisfies { [K in StepKind]: { kind: K } };

/** The activity of kind K as the workflow calls it. */
export type StepActivity<K extends StepKind> = (input: StepInput<K>) => Promise<StepResult>;

function bind<K extends StepKind>(kind: K, deps: LakeDeps): StepActivity<K> {
  const impl = STEP_IMPLS[kind] as unknown as StepImpl<K, LakeDeps, unknown>;
  return (input) => runStep(impl, deps, input);
}

/** The kinds the registry routes to a queue. */
export type KindsOn<Q extends 'etl' | 'gpu'> = { [K in StepKind]: (typeof REGISTRY)[K]['queue'] extends Q ? K : never }[StepKind];

/** Every kind the registry routes to `queue`, bound to a worker's deps: a new kind needs no line here. */
function bindQueue<Q extends 'etl' | 'gpu'>(queue: Q, deps: LakeDeps): { [K in KindsOn<Q>]: StepActivity<K> } {
  const kinds = STEP_KINDS.filter((k) => REGISTRY[k].queue === queue);
  return Object.fromEntries(kinds.map((k) => [k, bind(k, deps)])) as unknown as { [K in KindsOn<Q>]: StepActivity<K> };
}

/**
 * The lakeforge-etl queue's step activities (every kind the registry puts there: clean, features, sql, promote),
 * the partition activities of partitioned steps and the cache probes, bound to one worker's DuckDB instance.
 * The probes are always here: the pipeline workflow runs on this queue and calls probePipeline as a local activity,
 * and a worker without it would record a history that cannot replay (the SDK fails an unregistered local activity
 * eagerly, without a command, but schedules it on replay).
 */
export function createEtlActivities(deps: EtlDeps) {
  const d = { ...deps, home: deps.home ?? loadConfig().home };
  return { ...bindQueue('etl', d), ...createPartitionActivities(deps), ...createProbeActivities(d) };
}

/** Promotion alone (lake I/O only), for a worker that serves it without DuckDB. */
export function createPromoteActivities(deps: LakeDeps = {}) {
  return { promote: bind('promote', { ...deps, home: deps.home ?? loadConfig().home }) };
}

/**
 * The activities of the lakeforge-gpu queue (every kind the registry puts there). Promote is served here too, so
 * runs started before promotion moved to the ETL queue (or pinned to the GPU queue with a step `queue:`) complete.
 */
export function createGpuActivities(deps: GpuActivityDeps = {}) {
  const d = resolveDeps(deps);
  // trainNode: one node of a multi-node train step (workflows/distributed-train.ts).
  // predictShard: one shard of a sharded predict step (workflows/sharded-predict.ts).
  return { ...bindQueue('gpu', d), promote: bind('promote', d), trainNode: trainNodeActivity(d, trainStep), predictShard: predictShardActivity(d) };
}

/** Every step activity, as the pipeline workflow proxies them (`import type` only, in workflows/pipeline.ts). */
export type StepActivities = { [K in StepKind]: StepActivity<K> };
export type EtlActivities = ReturnType<typeof createEtlActivities>;
export type GpuActivities = ReturnType<typeof createGpuActivities>;
