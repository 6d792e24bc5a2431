import { createGpuActivities, type GpuActivityDeps } from '../steps/index.js';
import { trainerMetricsObserver } from './metrics.js';

/**
 * Everything the lakeforge-gpu queue serves. Live training progress travels in the activities' heartbeat details
 * (no history cost), read by the CLI and SDK through describe(); nothing signals the pipeline (docs/long-runs.md).
 */
export function gpuActivities(deps: GpuActivityDeps = {}) {
  return { ...createGpuActivities({ onTrainerEvent: trainerMetricsObserver(), ...deps }) };
}
