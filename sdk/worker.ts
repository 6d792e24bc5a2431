// `import … from 'lakeforge/worker'`: run lakeforge's workers in your own process. createProjectWorkers() is what
// `lakeforge worker` runs in a project: the built-in kinds plus the project's own steps.
export { createEtlWorker } from '../workers/etl.js';
export { createGpuWorker, type GpuWorkerOptions } from '../workers/gpu.js';
export { projectActivities, projectStepsOn } from '../workers/project.js';
export { useProject } from './project.js';
export { etlActivities } from '../workers/etl-activities.js';
export { gpuActivities } from '../workers/gpu-activities.js';
