// No GPU for cached work: a train or evaluate step first asks the ETL queue whether its output is already published
// (probeCache, activities/steps/train/probe.ts: lake reads only); a hit is the step's result and never waits for a
// GPU slot, a miss dispatches the step to the GPU queue as before. The probe is an optimisation: when it fails or
// cannot start in time the step simply goes to the GPU queue, whose activity checks the cache itself.
// Deterministic: patched() guards the new command, so histories recorded before it replay unchanged.
import { ActivityFailure, ApplicationFailure, isCancellation, patched, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { StepResult } from '../contracts/step-result.js';
import type { StepActivities } from './pipeline.js';

export const GPU_CACHE_PROBE_PATCH = 'lakeforge-gpu-cache-probe';
const PROBED = ['train', 'evaluate'] as const;
type Probed = (typeof PROBED)[number];
/** The step's own input errors: the GPU activity would fail the same way, so fail now, without a GPU. */
const INPUT_ERRORS = ['BadInput', 'SchemaMismatch', 'InvalidPipeline'];

interface ProbeActivities {
  probeCache(input: { kind: Probed; input: Parameters<StepActivities[Probed]>[0] }): Promise<StepResult | null>;
}

/** The step's activities, with train and evaluate probing the cache on `etlQueue` before they take a GPU. */
export function withGpuCacheProbe(options: ActivityOptions, etlQueue: string): StepActivities {
  const acts = proxyActivities<StepActivities>(options);
  const { probeCache } = proxyActivities<ProbeActivities>({
    taskQueue: etlQueue,
    // A busy ETL queue must not hold the step up for long: past this, the GPU queue is asked instead.
    scheduleToStartTimeout: '1m',
    startToCloseTimeout: '2m',
    retry: { maximumAttempts: 2, initialInterval: '1s', nonRetryableErrorTypes: INPUT_ERRORS },
    priority: options.priority,
    summary: `cache probe · ${options.summary ?? ''}`.trim(),
  });
  const probed = (kind: Probed) => async (input: never): Promise<StepResult> => {
    if (patched(GPU_CACHE_PROBE_PATCH)) {
      try {
        const hit = await probeCache({ kind, input });
        if (hit) return hit;
      } catch (err) {
        if (isCancellation(err)) throw err;
        if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && INPUT_ERRORS.includes(err.cause.type ?? '')) throw err;
      }
    }
    return (acts[kind] as (i: never) => Promise<StepResult>)(input);
  };
  return new Proxy(acts, {
    get: (target, key) => ((PROBED as readonly PropertyKey[]).includes(key) ? probed(key as Probed) : target[key as keyof StepActivities]),
  });
}
