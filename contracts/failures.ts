import { ApplicationFailure } from '@temporalio/common';

/** The failure types of DESIGN.md §3. The first three are never worth retrying. */
export const FailureType = {
  BadInput: 'BadInput',
  SchemaMismatch: 'SchemaMismatch',
  InvalidPipeline: 'InvalidPipeline',
  TrainerCrashed: 'TrainerCrashed',
  Preempted: 'Preempted',
  StorageUnavailable: 'StorageUnavailable',
  /** lakeforge's own check failed (conservation, plan/version mismatch): a bug, never fixed by retrying. */
  InvariantViolated: 'InvariantViolated',
  /** A configured resource limit was too small for the data (DuckDB out of memory); names the setting to raise. */
  ResourceExhausted: 'ResourceExhausted',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

export const NON_RETRYABLE_TYPES: FailureType[] = [
  FailureType.BadInput,
  FailureType.SchemaMismatch,
  FailureType.InvalidPipeline,
  FailureType.InvariantViolated,
  FailureType.ResourceExhausted,
];

export function badInput(message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.BadInput, message, nonRetryable: true, details: details ? [details] : undefined });
}

export function schemaMismatch(message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.SchemaMismatch, message, nonRetryable: true, details: details ? [details] : undefined });
}

export function invalidPipeline(message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.InvalidPipeline, message, nonRetryable: true, details: details ? [details] : undefined });
}

export function storageUnavailable(message: string, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.StorageUnavailable, message, nonRetryable: false, cause: cause instanceof Error ? cause : undefined });
}

export function trainerCrashed(message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.TrainerCrashed, message, nonRetryable: false, details: details ? [details] : undefined });
}

export function preempted(message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.Preempted, message, nonRetryable: false, details: details ? [details] : undefined });
}

export function invariantViolated(message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.InvariantViolated, message: `internal invariant violated (a lakeforge bug, not your input): ${message}`, nonRetryable: true, details: details ? [details] : undefined });
}

/**
 * Out of a configured resource. Not retried: every attempt runs under the same limit, so only raising the named
 * setting helps (a worker with a larger limit picks the run up again when it is re-run).
 */
export function resourceExhausted(message: string, details: { setting: string } & Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.ResourceExhausted, message, nonRetryable: true, details: [details] });
}
