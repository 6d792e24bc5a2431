// Small ETL steps run inline: as a local activity on the worker that runs the pipeline's workflow task, so a step
// transition costs no trip through the server's matching (the profile in bench/RESULTS.md: per hop, an activity
// costs a workflow task plus a dispatch; a local activity costs neither, and a chain of them completes inside one
// workflow task). Durable all the same: each step publishes to the lake manifest-last before its result is
// recorded (a marker in the history), and a step whose marker was lost with a worker runs again as a cache hit.
// Only what stays well inside a workflow task's lifetime runs inline; big steps keep their own activity, with
// heartbeats, the ETL queue's priority order and any worker's slot. Deterministic: patched() guards the new command.
import { patched, proxyLocalActivities, type ActivityOptions } from '@temporalio/workflow';
import type { StepActivities } from '../steps/activities.js';
import type { StepResult } from '../contracts/step-result.js';

export const INLINE_STEPS_PATCH = 'lakeforge-inline-small-steps';
/** Inputs up to this many rows run inline (a few seconds of DuckDB at most). */
export const INLINE_MAX_ROWS = 200_000;
/** A clean step inline reads at most this much raw Parquet. */
export const INLINE_MAX_RAW_BYTES = 16 * 2 ** 20;
const INLINE_KINDS = new Set(['clean', 'features', 'sql']);

/**
 * Whether a built-in ETL step of this size runs inline: only when its queue is the one the pipeline's probe ran on
 * (`probeQueue`, from the history, not workflowInfo(), which a replayer fills with its own queue), so the worker
 * running the workflow is one that serves the step's activities.
 */
export function runsInline(kind: string, options: ActivityOptions, inputs: StepResult[], rawBytes: number | undefined, probeQueue: string | undefined): boolean {
  if (!INLINE_KINDS.has(kind) || !probeQueue || options.taskQueue !== probeQueue) return false;
  const small = inputs.length
    ? inputs.every((r) => typeof r.rows === 'number') && inputs.reduce((n, r) => n + (r.rows ?? 0), 0) <= INLINE_MAX_ROWS
    : rawBytes !== undefined && rawBytes <= INLINE_MAX_RAW_BYTES;
  return small && patched(INLINE_STEPS_PATCH);
}

/** The step's activity as a local activity, with the step's own timeout and retry policy. */
export function inlineActivities(options: ActivityOptions): StepActivities {
  const { startToCloseTimeout, retry, summary } = options;
  return proxyLocalActivities<StepActivities>({ startToCloseTimeout, retry, summary, cancellationType: options.cancellationType });
}

/**
 * The SDK fails a local activity the worker lacks eagerly (a ReferenceError, no command) but schedules it on replay,
 * so a run that went on past that error could never replay. Such an error must fail the workflow task instead (it
 * is retried, on a worker that has the activity), never become a step's failure or a fallback.
 */
export function isUnregisteredLocalActivity(err: unknown): err is ReferenceError {
  return err instanceof ReferenceError && /^Local activity of type .* not registered on worker/.test(err.message);
}
