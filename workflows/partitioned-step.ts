// Partitioned clean and features steps (params.partitions): children of pipelineWorkflow that fan a step out over
// every ETL worker on the queue, so the pipeline's own history stays one step long however many partitions there are.
//   clean:    plan → map (one activity per batch of raw files) → [IQR fences] → reduce (one per bucket) → publish
//   features: plan (label map, once) → map (one activity per batch of clean files) → publish
// Each phase runs at most `concurrency` activities at a time. A phase of more than `tasksPerWorkflow` tasks runs in
// child workflows (partitionTasksWorkflow) of at most that many tasks each, nested as deep as needed, so no history
// holds more than about `tasksPerWorkflow` activities or children: 1000+ partitions never near Temporal's limits.
// Activity inputs name a partition by number only (the plan is in the lake), so histories stay small in bytes too.
// A failed partition is retried alone by its own retry policy; a partition that fails for good stops the phase
// (nothing new starts, the running ones are cancelled), the work area is dropped, and the step fails with its cause.
// Deterministic: activities are imported as types only; no clocks, no randomness.
import { CancellationScope, executeChild, proxyActivities, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { StepResult } from '../contracts/step-result.js';
import { childPriority } from './priority.js';
import type {
  CleanBucketResult, FeaturesBatchResult, ShuffleCleanBatchResult,
} from '../steps/index.js';

type Params = Record<string, unknown>;
interface Work<P> { lake: string; dataset: string; params: P; version: string; workRel: string }

/** The partition activities, by type from the worker side: a changed signature there fails tsc here. */
import type { PartitionActivities } from '../steps/partition-activities.js';
import type { ParamsOf } from '../contracts/step-input.js';
export type { PartitionActivities };

export interface PartitionedCleanInput {
  lake: string;
  dataset: string;
  params: ParamsOf<'clean'>;
  /** Options of the partition activities (queue, timeouts, retries), as the parent computed them for the step. */
  activity: ActivityOptions;
}

export interface PartitionedFeaturesInput extends Omit<PartitionedCleanInput, 'params'> {
  params: ParamsOf<'features'>;
  /** The clean step's result. */
  input: StepResult;
}

/** One phase's tasks, numbered [from, to): task i's input is `common` plus `{ [key]: i }`. */
export interface PartitionTasksInput {
  name: 'shuffleCleanBatch' | 'cleanBucket' | 'featuresBatch';
  key: 'batch' | 'bucket';
  common: Params;
  from: number;
  to: number;
  /** Tasks in the whole phase, and its name in summaries and child workflow ids. */
  total: number;
  label: string;
  phase: string;
  concurrency: number;
  tasksPerWorkflow: number;
  activity: ActivityOptions;
}

/**
 * Runs `tasks` with at most `limit` in flight, results in task order. On the first failure nothing new starts, the
 * tasks in flight are cancelled, and that failure is thrown once they have settled. Deterministic: completion order
 * is the history's.
 */
async function bounded<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const scope = new CancellationScope();
  const lane = async () => {
    while (next < tasks.length && !failure) {
      const i = next++;
      try {
        results[i] = await tasks[i]();
      } catch (error) {
        if (!failure) {
          failure = { error };
          scope.cancel();
        }
      }
    }
  };
  try {
    await scope.run(() => Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, lane)));
  } catch (error) {
    failure ??= { error };
  }
  if (failure) throw failure.error;
  return results;
}

const pad = (n: number) => String(n).padStart(5, '0');

/**
 * A phase's tasks [from, to): as activities of this workflow when they are few enough, else split into at most
 * `tasksPerWorkflow` ranges, each a child workflow (itself splitting further if needed), sharing the concurrency.
 */
async function runTasks<T>(input: PartitionTasksInput): Promise<T[]> {
  const n = input.to - input.from;
  if (n <= 0) return [];
  // Cancelled partitions are waited for, so none can still be writing into the work area once it is dropped.
  const options: ActivityOptions = {
    ...input.activity, allowEagerDispatch: false,
    cancellationType: 'WAIT_CANCELLATION_COMPLETED' as ActivityOptions['cancellationType'],
  };
  if (n <= input.tasksPerWorkflow) {
    return bounded(Array.from({ length: n }, (_, k) => () => {
      const i = input.from + k;
      const acts = proxyActivities<Record<string, (x: Params) => Promise<T>>>({ ...options, summary: `${input.label} ${i + 1}/${input.total}` });
      return acts[input.name]({ ...input.common, [input.key]: i });
    }), input.concurrency);
  }
  const ranges = Math.min(input.tasksPerWorkflow, Math.ceil(n / input.tasksPerWorkflow));
  const size = Math.ceil(n / ranges);
  const parallel = Math.min(ranges, input.concurrency);
  const each = Math.max(1, Math.floor(input.concurrency / parallel));
  const parent = workflowInfo().workflowId;
  const chunks = await bounded(Array.from({ length: ranges }, (_, r) => () => {
    const from = input.from + r * size;
    const to = Math.min(input.to, from + size);
    return executeChild(partitionTasksWorkflow, {
      workflowId: `${parent}/${input.phase}-${pad(from)}-${pad(to - 1)}`,
      args: [{ ...input, from, to, concurrency: each }],
      staticSummary: `${input.label} ${from + 1}–${to} of ${input.total}`,
      // The step's priority and team, as its activities carry them (input.activity, from the pipeline).
      ...childPriority(input.activity),
    }) as Promise<T[]>;
  }), parallel);
  return chunks.flat();
}

/** A range of one phase's tasks, run by a partitioned step past `tasksPerWorkflow` tasks. */
export async function partitionTasksWorkflow(input: PartitionTasksInput): Promise<unknown[]> {
  return runTasks(input);
}

/** Runs `fn`; if it fails or is cancelled, drops the step's work area (best effort, even when cancelled) and rethrows. */
async function dropWorkOnFailure<T>(options: ActivityOptions, lake: string, workRel: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const { discardPartitionWork } = proxyActivities<PartitionActivities>({
      ...options, startToCloseTimeout: '10m', retry: { maximumAttempts: 3 }, summary: 'drop the partition work area',
    });
    await CancellationScope.nonCancellable(() => discardPartitionWork({ lake, workRel }).catch(() => undefined));
    throw err;
  }
}

export async function partitionedCleanWorkflow(input: PartitionedCleanInput): Promise<StepResult> {
  const { lake, dataset, params } = input;
  // Partitions are spread over all workers on the queue: no eager dispatch back to the worker running this workflow.
  const options: ActivityOptions = { ...input.activity, allowEagerDispatch: false };
  const acts = (summary: string) => proxyActivities<PartitionActivities>({ ...options, summary });
  // A work area per run of this workflow: a crashed earlier run's leftovers can never mix into this one's buckets.
  const plan = await acts('clean · plan partitions').planPartitionedClean({ lake, dataset, params, workKey: workflowInfo().runId });
  if (plan.cached) return plan.cached;
  const work: Work<ParamsOf<'clean'>> = { lake, dataset, params, version: plan.version, workRel: plan.workRel };
  const phase = { concurrency: plan.concurrency, tasksPerWorkflow: plan.tasksPerWorkflow, activity: options };
  return dropWorkOnFailure(options, lake, plan.workRel, async () => {
    await runTasks<ShuffleCleanBatchResult>({
      ...phase, name: 'shuffleCleanBatch', key: 'batch', common: { ...work, buckets: plan.buckets },
      from: 0, to: plan.batches, total: plan.batches, label: 'clean · map batch', phase: 'map',
    });
    // IQR outlier rules need the whole dataset's quartiles, between map and reduce.
    const fences = plan.iqr ? await acts('clean · IQR fences').cleanFences({ ...work, batches: plan.batches }) : undefined;
    const buckets = await runTasks<CleanBucketResult>({
      ...phase, name: 'cleanBucket', key: 'bucket', common: { ...work, ...(fences ? { fences } : {}) },
      from: 0, to: plan.buckets, total: plan.buckets, label: 'clean · reduce bucket', phase: 'reduce',
    });
    return acts('clean · publish').publishPartitionedClean({ ...work, buckets });
  });
}

export async function partitionedFeaturesWorkflow(input: PartitionedFeaturesInput): Promise<StepResult> {
  const { lake, dataset } = input;
  const options: ActivityOptions = { ...input.activity, allowEagerDispatch: false };
  const acts = (summary: string) => proxyActivities<PartitionActivities>({ ...options, summary });
  const plan = await acts('features · plan partitions').planPartitionedFeatures({ lake, dataset, input: input.input, params: input.params, workKey: workflowInfo().runId });
  if (plan.cached) return plan.cached;
  // Every batch gets the parameters the plan resolved (label map, row key), so all agree on them.
  const work = { lake, dataset, input: input.input, params: plan.params, version: plan.version, workRel: plan.workRel };
  return dropWorkOnFailure(options, lake, plan.workRel, async () => {
    const batches = await runTasks<FeaturesBatchResult>({
      name: 'featuresBatch', key: 'batch', common: { ...work, filesPerTask: plan.filesPerTask },
      from: 0, to: plan.batches, total: plan.batches, label: 'features · batch', phase: 'map',
      concurrency: plan.concurrency, tasksPerWorkflow: plan.tasksPerWorkflow, activity: options,
    });
    return acts('features · publish').publishPartitionedFeatures({ ...work, filesPerTask: plan.filesPerTask, batches });
  });
}
