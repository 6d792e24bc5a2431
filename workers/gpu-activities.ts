import { createGpuActivities, type GpuActivityDeps } from '../activities/steps/training-index.js';
import { trainingProgressRelay } from './progress-relay.js';
import { trainerMetricsObserver } from './metrics.js';

/** Everything the lakeforge-gpu queue serves; training progress is relayed to the pipeline run by default. */
export function gpuActivities(deps: GpuActivityDeps = {}) {
  const relay = trainingProgressRelay();
  const metrics = trainerMetricsObserver();
  return { ...createGpuActivities({ onTrainerEvent: (e, c) => { relay(e, c); metrics(e, c); }, ...deps }) };
}
