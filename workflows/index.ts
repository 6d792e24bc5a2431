// Every workflow type lakeforge registers; workers bundle this file.
export { pipelineWorkflow } from './pipeline.js';
export { partitionedCleanWorkflow, partitionedFeaturesWorkflow, partitionTasksWorkflow } from './partitioned-step.js';
export { distributedTrainWorkflow } from './distributed-train.js';
export { gangBrokerWorkflow } from './gang-broker.js';
export { shardedPredictWorkflow } from './sharded-predict.js';
