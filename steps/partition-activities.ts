// The activities of partitioned clean and features steps (params.partitions), fanned out by
// workflows/partitioned-step.ts, which proxies them through `import type` of PartitionActivities.
import type { StepResult } from '../contracts/step-result.js';
import type { EtlDeps } from '../activities/duckdb/files.js';
import { discardPartitionWork, type DiscardPartitionWorkInput } from '../activities/kernel/partitions.js';
import type { IqrFences } from './clean/activity.js';
import {
  cleanBucket, cleanFences, planPartitionedClean, publishPartitionedClean, shuffleCleanBatch,
  type CleanBucketInput, type CleanBucketResult, type CleanFencesInput, type PartitionedCleanPlan, type PlanPartitionedCleanInput,
  type PublishPartitionedCleanInput, type ShuffleCleanBatchInput, type ShuffleCleanBatchResult,
} from './clean/partitioned.js';
import {
  featuresBatch, planPartitionedFeatures, publishPartitionedFeatures,
  type FeaturesBatchInput, type FeaturesBatchResult, type PartitionedFeaturesPlan, type PlanPartitionedFeaturesInput,
  type PublishPartitionedFeaturesInput,
} from './features/partitioned.js';

export function createPartitionActivities(deps: EtlDeps) {
  return {
    planPartitionedClean: (input: PlanPartitionedCleanInput): Promise<PartitionedCleanPlan> => planPartitionedClean(deps, input),
    shuffleCleanBatch: (input: ShuffleCleanBatchInput): Promise<ShuffleCleanBatchResult> => shuffleCleanBatch(deps, input),
    cleanFences: (input: CleanFencesInput): Promise<IqrFences> => cleanFences(deps, input),
    cleanBucket: (input: CleanBucketInput): Promise<CleanBucketResult> => cleanBucket(deps, input),
    publishPartitionedClean: (input: PublishPartitionedCleanInput): Promise<StepResult> => publishPartitionedClean(deps, input),
    planPartitionedFeatures: (input: PlanPartitionedFeaturesInput): Promise<PartitionedFeaturesPlan> => planPartitionedFeatures(deps, input),
    featuresBatch: (input: FeaturesBatchInput): Promise<FeaturesBatchResult> => featuresBatch(deps, input),
    publishPartitionedFeatures: (input: PublishPartitionedFeaturesInput): Promise<StepResult> => publishPartitionedFeatures(deps, input),
    discardPartitionWork: (input: DiscardPartitionWorkInput): Promise<void> => discardPartitionWork(deps, input),
  };
}
export type PartitionActivities = ReturnType<typeof createPartitionActivities>;
