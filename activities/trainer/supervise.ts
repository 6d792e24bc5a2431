import { currentContext } from '../kernel/context.js';
import { CancelledFailure, type ApplicationFailure } from '@temporalio/common';
import { badInput, preempted, schemaMismatch, trainerCrashed } from '../../contracts/failures.js';
import type { TrainerEvent } from '../../contracts/trainer-protocol.js';
import { TrainerExitCode } from '../../contracts/trainer-protocol.js';
import { launchTrainer, type LaunchOptions, type TrainerExit, type TrainerMode } from './launcher.js';
import type { Slot } from './slots.js';
import type { TorchrunOptions } from './distributed.js';
import type { ResolvedDeps } from './deps.js';

/** What the activity heartbeats while a trainer runs (docs/design.md#temporal-names, plus what the UI's progress needs). */
export interface TrainHeartbeat {
  phase: 'staging' | 'restoring' | 'running' | 'syncing' | 'publishing';
  step: number | null;
  total_steps: number | null;
  /** Lake-relative directory of the newest checkpoint that is complete in the lake. */
  checkpoint: string | null;
  checkpoint_step: number | null;
  loss: number | null;
  samples_per_s: number | null;
  eta_s: number | null;
  epoch: number | null;
  resumed_from_step: number | null;
  /** The trainer's pid (its process group id); null while none runs. */
  pid: number | null;
  slot: string | null;
  attempt: number;
  /** The pipeline step this activity runs (train only): how `getProgress` puts these figures on the right row. */
  pipeline_step?: string;
}

export function emptyHeartbeat(attempt: number): TrainHeartbeat {
  return {
    phase: 'staging', step: null, total_steps: null, checkpoint: null, checkpoint_step: null, loss: null,
    samples_per_s: null, eta_s: null, epoch: null, resumed_from_step: null, pid: null, slot: null, attempt,
  };
}

export { currentContext, startHeartbeats } from '../kernel/context.js';

/** The variables a trainer inherits from us; everything else (credentials included) stays out of its environment. */
const PASS_THROUGH = /^(PATH|HOME|USER|LANG|LC_\w+|TZ|TMPDIR|HF_\w+|HUGGINGFACE_\w+|TRANSFORMERS_\w+|TORCH\w*|OMP_NUM_THREADS|MKL_NUM_THREADS|NCCL_\w+|CUDA_\w+|PYTORCH_\w+|LAKEFORGE_TRAINER_\w+)$/;

export function trainerEnv(slot: Slot, trainerDir: string, extra: Record<string, string> = {}, base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined && PASS_THROUGH.test(k)) env[k] = v;
  Object.assign(env, extra);
  env.PYTHONPATH = trainerDir;
  env.PYTHONUNBUFFERED = '1';
  env.PYTHONDONTWRITEBYTECODE = '1';
  // Last, so nothing overrides the slot this activity holds. '' hides every GPU from the CPU slot.
  env.CUDA_VISIBLE_DEVICES = slot.cudaVisibleDevices;
  return env;
}

export interface SuperviseOptions {
  python: string;
  trainerDir: string;
  mode: TrainerMode;
  configPath: string;
  slot: Slot;
  env?: Record<string, string>;
  graceMs: number;
  onEvent: (e: TrainerEvent) => void;
  onStart?: (pid: number) => void;
  /** Aborted when the worker shuts down: the trainer checkpoints and the attempt ends as Preempted. */
  shutdownSignal?: AbortSignal;
  /** Work that must finish before the outcome is known (checkpoint uploads); awaited after the trainer exits. */
  drain?: () => Promise<void>;
  /** Data-parallel ranks (the slot is then a combined one: CUDA_VISIBLE_DEVICES lists every GPU held). */
  torchrun?: TorchrunOptions;
  /** A user's Python step: its argv, event schema and working directory (see LaunchOptions). */
  argv?: LaunchOptions['argv'];
  eventSchema?: LaunchOptions['eventSchema'];
  cwd?: string;
}

export type SuperviseOutcome = { exit: TrainerExit; cancelled?: CancelledFailure };

/**
 * Runs the trainer to its end under the activity's cancellation: on cancel (run cancelled, heartbeat lost, worker
 * shutdown) the group gets SIGTERM, `graceMs` to checkpoint, then SIGKILL; the process is always reaped before this
 * returns. A failure of the trainer is returned as its exit for the caller to map (see `failureOf`).
 */
export async function superviseTrainer(o: SuperviseOptions): Promise<SuperviseOutcome> {
  const signal = currentContext()?.cancellationSignal;
  const proc = launchTrainer({
    python: o.python,
    mode: o.mode,
    configPath: o.configPath,
    cwd: o.cwd ?? o.trainerDir,
    env: trainerEnv(o.slot, o.trainerDir, o.env),
    onEvent: o.onEvent,
    torchrun: o.torchrun,
    argv: o.argv,
    eventSchema: o.eventSchema,
  });
  o.onStart?.(proc.pid);
  const stop = () => void proc.terminate(o.graceMs);
  signal?.addEventListener('abort', stop, { once: true });
  o.shutdownSignal?.addEventListener('abort', stop, { once: true });
  if (signal?.aborted || o.shutdownSignal?.aborted) stop();
  let exit: TrainerExit;
  try {
    exit = await proc.exited;
  } finally {
    signal?.removeEventListener('abort', stop);
    o.shutdownSignal?.removeEventListener('abort', stop);
  }
  await o.drain?.();
  const reason = signal?.aborted ? signal.reason : undefined;
  return { exit, cancelled: reason instanceof CancelledFailure ? reason : reason !== undefined ? new CancelledFailure(String(reason)) : undefined };
}

/** docs/design.md#failures and #the-trainer-protocol: 0 → done; 2 → BadInput (SchemaMismatch for a missing column); 75 → Preempted; else TrainerCrashed. */
export function failureOf(exit: TrainerExit, what: string, who = 'the trainer'): ApplicationFailure | null {
  const tail = exit.stderrTail.slice(-20).join('\n');
  if (exit.exitCode === TrainerExitCode.Done) {
    if (exit.done) return null;
    return trainerCrashed(`${what}: ${who} exited 0 without a done event\n${tail}`, { exitCode: 0, stderrTail: exit.stderrTail });
  }
  if (exit.exitCode === TrainerExitCode.BadInput) {
    const msg = exit.error?.message ?? (tail || `${who} rejected its input`);
    const details = { reason: exit.error?.reason, file: exit.error?.file, column: exit.error?.column };
    return exit.error?.reason === 'missing_column' ? schemaMismatch(`${what}: ${msg}`, details) : badInput(`${what}: ${msg}`, details);
  }
  if (exit.exitCode === TrainerExitCode.Preempted) {
    return preempted(`${what}: ${who} checkpointed and exited (preempted)`, { exitCode: 75 });
  }
  const how = exit.signal ? `was killed by ${exit.signal}` : exit.exitCode === null ? 'could not be started' : `exited with code ${exit.exitCode}`;
  const msg = exit.error?.message ? `: ${exit.error.message}` : '';
  return trainerCrashed(`${what}: ${who} ${how}${msg}\n--- stderr (last lines) ---\n${tail}`, {
    exitCode: exit.exitCode, signal: exit.signal, stderrTail: exit.stderrTail,
  });
}

/**
 * A one-slot trainer run (evaluate, predict): holds a slot, runs the trainer under it with the step's heartbeat,
 * gives the slot back, and turns the exit into the step's failure or its `done` event. A cancel during a worker
 * shutdown is not re-thrown: the exit (Preempted) says it, and the activity is retried elsewhere.
 */
export async function runOnSlot(d: ResolvedDeps, o: {
  mode: 'evaluate' | 'predict'; model: string; configPath: string; attempt: number; graceSeconds?: number;
  hb: TrainHeartbeat; beats: { beat(): void };
}): Promise<NonNullable<TrainerExit['done']>> {
  const slot = await d.slots.acquire(currentContext()?.cancellationSignal);
  let outcome: SuperviseOutcome;
  try {
    o.hb.slot = slot.id;
    o.hb.phase = 'running';
    outcome = await superviseTrainer({
      python: d.python, trainerDir: d.trainerDir, mode: o.mode, configPath: o.configPath, slot, env: d.trainerEnv,
      graceMs: (o.graceSeconds ?? d.graceMs / 1000) * 1000,
      onEvent: (e: TrainerEvent) => {
        d.onTrainerEvent?.(e, { mode: o.mode, model: o.model, attempt: o.attempt, pid: o.hb.pid ?? -1 });
        if (e.event === 'started') o.beats.beat();
      },
      onStart: (pid) => { o.hb.pid = pid; o.beats.beat(); },
      shutdownSignal: d.shutdownSignal,
    });
  } finally {
    slot.release();
    o.hb.pid = null;
  }
  if (outcome.cancelled && !currentContext()?.cancellationDetails?.workerShutdown) throw outcome.cancelled;
  const failure = failureOf(outcome.exit, `${o.mode} ${o.model}`);
  if (failure) throw failure;
  o.hb.phase = 'publishing';
  o.beats.beat();
  return outcome.exit.done!;
}
