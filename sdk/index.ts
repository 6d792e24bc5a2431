// `import … from 'lakeforge'`: the public SDK. Everything a project's code and its lakeforge.config.ts use comes
// from here, so nothing outside imports lakeforge's internal paths (which may move).
export { pipeline, PipelineBuilder, type ParamsOf } from './builder.js';
export {
  startPipeline, getProgress, cancelPipeline, pipelineWorkflowId, defaultRunKey,
  type PipelineHandle, type StartPipelineOptions,
} from './pipelines.js';
export {
  createPipelineSchedule, listPipelineSchedules, describePipelineSchedule, describeTiming, defaultScheduleId,
  OVERLAP_POLICIES, type OverlapPolicy, type PipelineScheduleOptions, type PipelineScheduleInfo,
} from './schedules.js';
// The zod lakeforge validates with: step params declared with it are checked by the same library.
export { z } from 'zod';
export { defineStep, defineProject, pythonStep } from '../steps/user/define.js';
export type { TsStep, PythonStep, ProjectConfig } from '../steps/user/define.js';
export { connectClient, temporalConnectionOptions } from '../activities/common/temporal-connection.js';
export { loadConfig, TASK_QUEUE_ETL, TASK_QUEUE_GPU, LAKEFORGE_VERSION } from '../activities/common/config.js';
export { findProject, loadProject, type LoadedProject } from './project.js';
export { loadPipelineFile, parsePipelineText, InvalidPipelineError } from './load-spec.js';
export { validatePipeline, type PipelinePlan } from '../workflows/spec/validate.js';
export type { PipelineSpec, PipelineSpecInput } from '../contracts/spec.js';
export type { PipelineProgress, StepProgress } from '../contracts/progress.js';
export type { StepResult } from '../contracts/step-result.js';
