import type { StepResult } from '../../contracts/step-result.js';
import { runClean, type CleanInput } from './clean/activity.js';
import { runFeatures, type FeaturesInput } from './features/activity.js';
import { runSqlStep, type SqlStepInput } from './sql/activity.js';
import {
  cleanBucket,
  cleanFences,
  planPartitionedClean,
  publishPartitionedClean,
  shuffleCleanBatch,
  type CleanBucketInput,
  type CleanBucketResult,
  type CleanFencesInput,
  type PartitionedCleanPlan,
  type PlanPartitionedCleanInput,
  type PublishPartitionedCleanInput,
  type ShuffleCleanBatchInput,
  type ShuffleCleanBatchResult,
} from './clean/partitioned.js';
import {
  featuresBatch,
  planPartitionedFeatures,
  publishPartitionedFeatures,
  type FeaturesBatchInput,
  type FeaturesBatchResult,
  type PartitionedFeaturesPlan,
  type PlanPartitionedFeaturesInput,
  type PublishPartitionedFeaturesInput,
} from './features/partitioned.js';
import { discardPartitionWork, type DiscardPartitionWorkInput } from '../kernel/partitions.js';
import type { IqrFences } from './clean/activity.js';
import type { EtlDeps } from '../kernel/etl-common.js';

export { CleanParamsSchema, FeaturesParamsSchema, ColumnSpecSchema, ColumnTypeSchema, NullPolicySchema, TaskSchema } from './clean/params.js';
export { PartitionsSchema, SqlParamsSchema, RESERVED_LAKE_DIRS } from './clean/params.js';
export type { CleanParams, CleanParamsInput, FeaturesParams, FeaturesParamsInput, ColumnType, SqlParams, SqlParamsInput } from './clean/params.js';
export { CleanInputSchema, CLEAN_CODE_VERSION, CLEAN_SQL, buildCleanSql } from './clean/activity.js';
export type { CleanInput } from './clean/activity.js';
export type { PartitionedCleanPlan, CleanBucketResult, ShuffleCleanBatchResult } from './clean/partitioned.js';
export { FeaturesPartitionsSchema } from './clean/params.js';
export type { PartitionedFeaturesPlan, FeaturesBatchResult } from './features/partitioned.js';
export type { IqrFences } from './clean/activity.js';
export { FeaturesInputSchema, FEATURES_CODE_VERSION, FEATURES_SQL, SPLITS, buildFeaturesSql } from './features/activity.js';
export type { FeaturesInput, FeaturesManifestExtra } from './features/activity.js';
export { SqlStepInputSchema, SQL_STEP_CODE_VERSION } from './sql/activity.js';
export type { SqlStepInput } from './sql/activity.js';
export { lookupSqlFile, readSqlFile } from './sql/file.js';
export type { EtlDeps } from '../kernel/etl-common.js';

/**
 * The ETL activities (task queue `lakeforge-etl`), bound to one worker's DuckDB instance. Register the returned
 * object with a Worker; workflows call them as `clean`, `features` and `sql`. Each validates its input with zod
 * (bad parameters → InvalidPipeline) and return a StepResult (DESIGN.md §3).
 */
export function createEtlActivities(deps: EtlDeps) {
  return {
    async clean(input: CleanInput): Promise<StepResult> {
      return runClean(deps, input);
    },
    async features(input: FeaturesInput): Promise<StepResult> {
      return runFeatures(deps, input);
    },
    /** `uses: sql`: a custom query from sql/ over the upstream step's output. */
    async sql(input: SqlStepInput): Promise<StepResult> {
      return runSqlStep(deps, input);
    },
    // Partitioned clean and features (params.partitions), fanned out by workflows/partitioned-step.ts.
    async planPartitionedClean(input: PlanPartitionedCleanInput): Promise<PartitionedCleanPlan> {
      return planPartitionedClean(deps, input);
    },
    async shuffleCleanBatch(input: ShuffleCleanBatchInput): Promise<ShuffleCleanBatchResult> {
      return shuffleCleanBatch(deps, input);
    },
    async cleanFences(input: CleanFencesInput): Promise<IqrFences> {
      return cleanFences(deps, input);
    },
    async cleanBucket(input: CleanBucketInput): Promise<CleanBucketResult> {
      return cleanBucket(deps, input);
    },
    async publishPartitionedClean(input: PublishPartitionedCleanInput): Promise<StepResult> {
      return publishPartitionedClean(deps, input);
    },
    async planPartitionedFeatures(input: PlanPartitionedFeaturesInput): Promise<PartitionedFeaturesPlan> {
      return planPartitionedFeatures(deps, input);
    },
    async featuresBatch(input: FeaturesBatchInput): Promise<FeaturesBatchResult> {
      return featuresBatch(deps, input);
    },
    async publishPartitionedFeatures(input: PublishPartitionedFeaturesInput): Promise<StepResult> {
      return publishPartitionedFeatures(deps, input);
    },
    async discardPartitionWork(input: DiscardPartitionWorkInput): Promise<void> {
      return discardPartitionWork(deps, input);
    },
  };
}
export type EtlActivities = ReturnType<typeof createEtlActivities>;
