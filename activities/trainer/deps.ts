// What the GPU kinds (train, evaluate) are built with: the trainer's python and package, the worker's GPU slots.
import { join } from 'node:path';
import { loadConfig, REPO_ROOT } from '../common/config.js';
import type { OpenLakeOptions } from '../lake/index.js';
import type { TrainerEvent } from '../../contracts/trainer-protocol.js';
import { sourceHash } from '../kernel/version.js';
import { SlotAllocator, resolveSlots } from './slots.js';

/** What the GPU activities need from their worker. Everything has a default for the embedded setup. */
export interface GpuActivityDeps {
  /** LAKEFORGE_HOME: the venv, and `runs/` (local checkpoints, staged data) under it. */
  home?: string;
  /** The trainer's python; default `<home>/venv/bin/python`. */
  python?: string;
  /** The directory holding the `lakeforge_trainer` package (put on PYTHONPATH). */
  trainerDir?: string;
  /** The worker's slots; default from LAKEFORGE_GPUS / nvidia-smi / one CPU slot. */
  slots?: SlotAllocator;
  lakeOptions?: OpenLakeOptions;
  /** Extra environment for the trainer (e.g. OMP_NUM_THREADS, LAKEFORGE_TRAINER_VALIDATE_EVENTS). */
  trainerEnv?: Record<string, string>;
  /** Default SIGTERM→SIGKILL grace, when a step's params do not set one. */
  graceMs?: number;
  /** Aborted when the worker begins shutting down: running trainers checkpoint at once (→ Preempted, retried). */
  shutdownSignal?: AbortSignal;
  /** How often the activity heartbeats (the SDK throttles what reaches the server). */
  heartbeatEveryMs?: number;
  /** Observes every trainer event (metrics export, tests). Must not throw. */
  onTrainerEvent?: (e: TrainerEvent, at: TrainerEventContext) => void;
}

export interface TrainerEventContext {
  mode: 'train' | 'evaluate' | 'predict';
  model: string;
  attempt: number;
  pid: number;
  /** train only */
  runId?: string;
  step?: string;
}

export interface ResolvedDeps {
  home: string;
  python: string;
  trainerDir: string;
  slots: SlotAllocator;
  lakeOptions: OpenLakeOptions;
  trainerEnv: Record<string, string>;
  graceMs: number;
  shutdownSignal?: AbortSignal;
  heartbeatEveryMs: number;
  onTrainerEvent?: (e: TrainerEvent, at: TrainerEventContext) => void;
}

export function resolveDeps(deps: GpuActivityDeps = {}): ResolvedDeps {
  const cfg = loadConfig();
  const home = deps.home ?? cfg.home;
  return {
    home,
    python: deps.python ?? join(home, 'venv', 'bin', 'python'),
    trainerDir: deps.trainerDir ?? join(REPO_ROOT, 'trainer'),
    slots: deps.slots ?? new SlotAllocator(resolveSlots(cfg.gpus)),
    lakeOptions: { home, ...deps.lakeOptions },
    trainerEnv: deps.trainerEnv ?? {},
    graceMs: deps.graceMs ?? 60_000,
    shutdownSignal: deps.shutdownSignal,
    heartbeatEveryMs: deps.heartbeatEveryMs ?? 2_000,
    onTrainerEvent: deps.onTrainerEvent,
  };
}

/**
 * The trainer's code version: a hash of its package sources (and schema). A changed trainer gives new model
 * versions, so a cache hit never returns a model the current code would not have produced.
 */
export function trainerCodeVersion(trainerDir: string): Promise<string> {
  return sourceHash(join(trainerDir, 'lakeforge_trainer'), /\.(py|json)$/);
}
