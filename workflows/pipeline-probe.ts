// One cache probe for the whole DAG before any step is dispatched (steps/probe-pipeline.ts): a fully
// cached run is one local activity inside the run's first workflow task, so its history has a fixed number of events
// whatever its step count, and no step pays a round trip through the server to learn it is cached.
// A local activity: it runs on the worker that runs this workflow (an ETL worker), lake reads only, in well under a
// workflow task's timeout. Optional by design: when it fails, every step runs as before and checks the cache itself;
// a worker that lacks it fails the workflow task (see isUnregisteredLocalActivity). Deterministic: patched() guards
// the new command, so older histories replay unchanged.
import { isCancellation, patched, proxyLocalActivities } from '@temporalio/workflow';
import { isUnregisteredLocalActivity } from './inline-steps.js';
import type { PipelineProbeActivities, ProbePipelineOutput, ProbeStep } from '../steps/probe-pipeline.js';

export const PIPELINE_PROBE_PATCH = 'lakeforge-pipeline-probe';

const NONE: ProbePipelineOutput = { cached: {}, probed: 0, rawBytes: {} };

/** The published results of every step the lake already holds, by step name (none on old histories or failure). */
export async function probePipeline(steps: ProbeStep[]): Promise<ProbePipelineOutput> {
  if (!steps.length || !patched(PIPELINE_PROBE_PATCH)) return NONE;
  const { probePipeline: probe } = proxyLocalActivities<PipelineProbeActivities>({
    startToCloseTimeout: '1m',
    // An optimisation: one try, then the steps check the cache themselves.
    retry: { maximumAttempts: 1 },
    summary: 'cache probe · whole pipeline',
  });
  try {
    return await probe({ steps });
  } catch (err) {
    if (isCancellation(err) || isUnregisteredLocalActivity(err)) throw err;
    return NONE;
  }
}
