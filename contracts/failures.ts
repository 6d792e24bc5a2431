// The failure taxonomy (docs/design.md#failures): every failure lakeforge raises is an ApplicationFailure with one of
// these types. Whether it is retried is decided here and nowhere else: the workflow's nonRetryableErrorTypes and the
// CLI's "your input" vs "lakeforge's bug" wording both read this file. Pure: bundled into workflows.
import { ApplicationFailure } from '@temporalio/common';

export const FailureType = {
  /** Corrupt or unreadable file, wrong types, an empty dataset: the user's data. */
  BadInput: 'BadInput',
  /** Missing or renamed columns. */
  SchemaMismatch: 'SchemaMismatch',
  /** Cycle, unknown step, bad parameters: the user's pipeline. */
  InvalidPipeline: 'InvalidPipeline',
  /** lakeforge's own check failed (conservation, a plan/version mismatch): a bug, never the user's input. */
  InvariantViolated: 'InvariantViolated',
  /** The trainer process died. */
  TrainerCrashed: 'TrainerCrashed',
  /** The trainer checkpointed and exited (SIGTERM, worker shutdown). */
  Preempted: 'Preempted',
  /** The lake could not be reached. */
  StorageUnavailable: 'StorageUnavailable',
  /** The lake's store refused the credentials, or this identity may not read or write an object: fix the credentials or the policy. */
  StorageAccessDenied: 'StorageAccessDenied',
  /** The lake's location is wrong: its bucket does not exist, or no region is configured. */
  StorageMisconfigured: 'StorageMisconfigured',
  /** A resource limit was hit (e.g. DuckDB's memory limit); the message names the setting to raise. */
  ResourceExhausted: 'ResourceExhausted',
  /** A project's own step threw (retried: it may call a service; it throws a non-retryable failure when it knows better). */
  UserStepFailed: 'UserStepFailed',
  /** A predict step's input drifted past its `maxDrift` from the model's evaluation data: retrying scores the same rows. */
  DriftExceeded: 'DriftExceeded',
  /** The pipeline ends with this when one of its steps failed for good; the step's failure is the cause. */
  StepFailed: 'StepFailed',
  /** The pipeline ends with this when it was cancelled by request. */
  Cancelled: 'Cancelled',
  /** A `cancel` update rejected because a cancel is already under way (rejected updates cost no history). */
  AlreadyCancelling: 'AlreadyCancelling',
  /** A `cancel` update rejected because the run has already ended. */
  NotRunning: 'NotRunning',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** What retrying cannot fix. The workflow's activity retry policies use exactly this list. */
export const NON_RETRYABLE_TYPES: FailureType[] = [
  FailureType.BadInput,
  FailureType.SchemaMismatch,
  FailureType.InvalidPipeline,
  FailureType.InvariantViolated,
  // The same request with the same credentials and configuration is refused again.
  FailureType.StorageAccessDenied,
  FailureType.StorageMisconfigured,
  // Every attempt runs under the same limit, so only raising the named setting helps.
  FailureType.ResourceExhausted,
  FailureType.DriftExceeded,
  FailureType.StepFailed,
  FailureType.Cancelled,
];

/** The types that are the user's to fix (input or pipeline), as opposed to lakeforge's or the infrastructure's. */
export const USER_FAILURE_TYPES: FailureType[] = [FailureType.BadInput, FailureType.SchemaMismatch, FailureType.InvalidPipeline];

type Details = Record<string, unknown>;

function failure(type: FailureType, message: string, details?: Details, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: NON_RETRYABLE_TYPES.includes(type),
    details: details ? [details] : undefined,
    cause: cause instanceof Error ? cause : undefined,
  });
}

export const badInput = (message: string, details?: Details) => failure(FailureType.BadInput, message, details);
export const schemaMismatch = (message: string, details?: Details) => failure(FailureType.SchemaMismatch, message, details);
export const invalidPipeline = (message: string, details?: Details) => failure(FailureType.InvalidPipeline, message, details);
export const invariantViolated = (message: string, details?: Details) =>
  failure(FailureType.InvariantViolated, `internal invariant violated (a lakeforge bug, not your input): ${message}`, details);
export const storageUnavailable = (message: string, cause?: unknown) => failure(FailureType.StorageUnavailable, message, undefined, cause);
export const storageAccessDenied = (message: string, details?: Details) => failure(FailureType.StorageAccessDenied, message, details);
export const storageMisconfigured = (message: string, details?: Details) => failure(FailureType.StorageMisconfigured, message, details);
export const trainerCrashed = (message: string, details?: Details) => failure(FailureType.TrainerCrashed, message, details);
export const preempted = (message: string, details?: Details) => failure(FailureType.Preempted, message, details);
export const resourceExhausted = (message: string, details: { setting: string } & Details) => failure(FailureType.ResourceExhausted, message, details);
export const stepFailed = (message: string, cause?: unknown) => failure(FailureType.StepFailed, message, undefined, cause);
export const cancelled = (message: string) => failure(FailureType.Cancelled, message);
export const driftExceeded = (message: string, details?: Details) => failure(FailureType.DriftExceeded, message, details);
