import { createGpuActivities, type GpuActivityDeps } from '../activities/steps/index.js';
import { trainingProgressRelay } from './progress-relay.js';

/** Everything the lakeforge-gpu queue serves; training progress is relayed to the pipeline run by default. */
export function gpuActivities(deps: GpuActivityDeps = {}) {
  return { ...createGpuActivities({ onTrainerEvent: trainingProgressRelay(), ...deps }) };
}
