// The workflow rejects a cancel while one is under way or after the run ended (no history cost); clients turn
// that rejection back into the update's ordinary "not cancelled" answer. Client-only: no workflow code loaded.
import { FailureType } from '../contracts/failures.js';
import { WorkflowUpdateFailedError } from '@temporalio/client';

/** The answer for a cancel the workflow's validator rejected; undefined for any other error. */
export function rejectedCancel(err: unknown): { cancelled: false; reason: string } | undefined {
  if (!(err instanceof WorkflowUpdateFailedError)) return undefined;
  const cause = err.cause as { type?: string; message?: string } | undefined;
  if (cause?.type !== FailureType.AlreadyCancelling && cause?.type !== FailureType.NotRunning) return undefined;
  return { cancelled: false, reason: cause.message ?? cause.type };
}
