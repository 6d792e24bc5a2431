// partitionedCleanWorkflow: the clean step fanned out over every ETL worker (params.partitions). A child of
// pipelineWorkflow, so the parent's history stays one step long however many partitions there are.
// plan → shuffle each batch of raw files (map) → clean each bucket (reduce) → publish one version.
// Deterministic: activities are imported as types only. A failed batch or bucket is retried alone by its own retry
// policy; the others' results stay recorded.
import { proxyActivities, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { StepResult } from '../activities/common/step-result.js';
import type { CleanBucketResult, PartitionedCleanPlan } from '../activities/etl/index.js';

export interface PartitionedCleanActivities {
  planPartitionedClean(input: { lake: string; dataset: string; params: Record<string, unknown>; workKey: string }): Promise<PartitionedCleanPlan>;
  shuffleCleanBatch(input: { lake: string; dataset: string; params: Record<string, unknown>; version: string; workRel: string; batch: number; files: string[]; buckets: number }): Promise<{ batch: number; rows: number; buckets: number[] }>;
  cleanBucket(input: { lake: string; dataset: string; params: Record<string, unknown>; version: string; workRel: string; bucket: number }): Promise<CleanBucketResult>;
  publishPartitionedClean(input: { lake: string; dataset: string; params: Record<string, unknown>; version: string; workRel: string; buckets: CleanBucketResult[] }): Promise<StepResult>;
}

export interface PartitionedCleanInput {
  lake: string;
  dataset: string;
  params: Record<string, unknown>;
  /** Options of the partition activities (queue, timeouts, retries), as the parent computed them for the step. */
  activity: ActivityOptions;
}

/** Runs `tasks` with at most `limit` in flight, results in task order. Deterministic: completion order is history's. */
async function bounded<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, lane));
  return results;
}

export async function partitionedCleanWorkflow(input: PartitionedCleanInput): Promise<StepResult> {
  const { lake, dataset, params } = input;
  // Partitions are spread over all workers on the queue: no eager dispatch back to the worker running this workflow.
  const options: ActivityOptions = { ...input.activity, allowEagerDispatch: false };
  const { planPartitionedClean, publishPartitionedClean } = proxyActivities<PartitionedCleanActivities>({ ...options, summary: 'clean · plan partitions' });
  // A work area per run of this workflow: a crashed earlier run's leftovers can never mix into this one's buckets.
  const plan = await planPartitionedClean({ lake, dataset, params, workKey: workflowInfo().runId });
  if (plan.cached) return plan.cached;
  const common = { lake, dataset, params, version: plan.version, workRel: plan.workRel };

  await bounded(plan.batches.map((files, batch) => () => {
    const { shuffleCleanBatch } = proxyActivities<PartitionedCleanActivities>({ ...options, summary: `clean · shuffle batch ${batch + 1}/${plan.batches.length} (${files.length} files)` });
    return shuffleCleanBatch({ ...common, batch, files, buckets: plan.buckets });
  }), plan.concurrency);

  const buckets = await bounded(Array.from({ length: plan.buckets }, (_, bucket) => () => {
    const { cleanBucket } = proxyActivities<PartitionedCleanActivities>({ ...options, summary: `clean · bucket ${bucket + 1}/${plan.buckets}` });
    return cleanBucket({ ...common, bucket });
  }), plan.concurrency);

  return publishPartitionedClean({ ...common, buckets });
}
