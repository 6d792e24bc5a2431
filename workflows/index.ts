// Every workflow type lakeforge registers; workers bundle this file.
export { pipelineWorkflow } from './pipeline.js';
export { partitionedCleanWorkflow } from './partitioned-clean.js';
