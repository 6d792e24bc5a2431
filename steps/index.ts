// Everything about the step kinds that code outside activities/ uses: the registry, the activity factories, each
// kind's params, and the helpers tests and benchmarks call. One import path for the SDK and tests.
export { REGISTRY, STEP_KINDS, isStepKind, type StepKind } from './registry.js';
export { createEtlActivities, createGpuActivities, createPromoteActivities, STEP_IMPLS } from './activities.js';
export type { StepActivities, StepActivity, EtlActivities, GpuActivities } from './activities.js';
export type { PartitionActivities } from './partition-activities.js';
export type { EtlDeps } from '../activities/duckdb/files.js';
export type { GpuActivityDeps } from '../activities/trainer/deps.js';
export type { StepInput, ParamsOf } from '../contracts/step-input.js';

export { CleanParamsSchema, ColumnSpecSchema, ColumnTypeSchema, NullPolicySchema, PartitionsSchema, FeaturesPartitionsSchema } from './clean/params.js';
export type { CleanParams, CleanParamsInput, ColumnType } from './clean/params.js';
export { CLEAN_CODE_VERSION, CLEAN_SQL, buildCleanSql, type IqrFences } from './clean/activity.js';
export type { PartitionedCleanPlan, CleanBucketResult, ShuffleCleanBatchResult } from './clean/partitioned.js';
export { FeaturesParamsSchema, TaskSchema, type FeaturesParams, type FeaturesParamsInput } from './features/params.js';
export { FEATURES_CODE_VERSION, FEATURES_SQL, SPLITS, buildFeaturesSql, type FeaturesManifestExtra } from './features/activity.js';
export type { PartitionedFeaturesPlan, FeaturesBatchResult } from './features/partitioned.js';
export { SqlParamsSchema, type SqlParams, type SqlParamsInput } from './sql/params.js';
export { RESERVED_LAKE_DIRS } from '../contracts/lake-layout.js';
export { SQL_STEP_CODE_VERSION } from './sql/activity.js';
export { lookupSqlFile, readSqlFile } from './sql/file.js';
export { TrainParamsSchema, type TrainParams, type TrainParamsInput } from './train/params.js';
export { EvaluateParamsSchema, type EvaluateParams } from './evaluate/params.js';
export { PromoteParamsSchema, type PromoteParams } from './promote/params.js';
export { ChampionSchema, readChampion, championRel, type Champion } from './promote/activity.js';
export type { TrainHeartbeat } from '../activities/trainer/supervise.js';
export { SlotAllocator, resolveSlots, parseGpuSpec, CPU_SLOT, type Slot } from '../activities/trainer/slots.js';
export { liveTrainerPids, preemptAllTrainers } from '../activities/trainer/launcher.js';
