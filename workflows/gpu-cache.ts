// No GPU for cached work: a step of a GPU kind (registry queue 'gpu') first asks the ETL queue whether its output
// is already published (probeCache, steps/probe.ts: the kernel's plan and cache check, lake reads only);
// a hit is the step's result and never waits for a GPU slot, a miss dispatches the step to the GPU queue as before.
// The probe is an optimisation: when it fails or cannot start in time the step simply goes to the GPU queue, whose
// activity checks the cache itself. Deterministic: patched() guards the new command, so histories recorded before
// it replay unchanged.
import { ActivityFailure, ApplicationFailure, isCancellation, patched, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { ProbeActivities } from '../steps/probe.js';
import type { StepKind } from '../steps/registry.js';
import { USER_FAILURE_TYPES } from '../contracts/failures.js';
import type { StepInput } from '../contracts/step-input.js';
import type { StepResult } from '../contracts/step-result.js';

export const GPU_CACHE_PROBE_PATCH = 'lakeforge-gpu-cache-probe';

/** Runs `dispatch` (the step on its GPU queue) unless the ETL queue's probe finds the output already published. */
export async function probeThenRun<K extends StepKind>(kind: K, input: StepInput<K>, options: ActivityOptions, etlQueue: string, dispatch: () => Promise<StepResult>): Promise<StepResult> {
  if (!patched(GPU_CACHE_PROBE_PATCH)) return dispatch();
  const { probeCache } = proxyActivities<ProbeActivities>({
    taskQueue: etlQueue,
    // A busy ETL queue must not hold the step up for long: past this, the GPU queue is asked instead.
    scheduleToStartTimeout: '1m',
    startToCloseTimeout: '2m',
    retry: { maximumAttempts: 2, initialInterval: '1s', nonRetryableErrorTypes: USER_FAILURE_TYPES },
    priority: options.priority,
    summary: `cache probe · ${options.summary ?? ''}`.trim(),
  });
  try {
    const hit = await probeCache({ kind, input: input as StepInput<StepKind> });
    if (hit) return hit;
  } catch (err) {
    if (isCancellation(err)) throw err;
    // The step's own input errors: the GPU activity would fail the same way, so fail now, without a GPU.
    if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && (USER_FAILURE_TYPES as string[]).includes(err.cause.type ?? '')) throw err;
  }
  return dispatch();
}
