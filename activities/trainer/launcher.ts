import { execa, type ResultPromise } from 'execa';
import type { z } from 'zod';
import { createInterface } from 'node:readline';
import type { DoneEvent, ErrorEvent, TrainerEvent } from '../../contracts/trainer-protocol.js';
import { TrainerEventSchema } from '../../contracts/trainer-protocol.js';
import { trainerArgv, type TorchrunOptions } from './distributed.js';

export type TrainerMode = 'train' | 'evaluate' | 'predict';

export interface LaunchOptions {
  /** The venv's python. */
  python: string;
  mode: TrainerMode;
  configPath: string;
  cwd?: string;
  /** The full environment of the trainer (not merged with ours: what it sees is exactly what we chose). */
  env: Record<string, string>;
  /** Every valid stdout event, in order. Must not throw. */
  onEvent?: (e: TrainerEvent) => void;
  /** Lines kept from stderr for failure messages. */
  stderrTailLines?: number;
  /** Several data-parallel ranks under torch.distributed.run; absent: the one plain trainer process. */
  torchrun?: TorchrunOptions;
  /** Replaces `-m lakeforge_trainer <mode> --config <path>`: a user's Python step runs its own script. */
  argv?: string[];
  /** Replaces the trainer's event schema (a Python step speaks PythonStepEventSchema); same `done`/`error` names. */
  eventSchema?: z.ZodType<{ event: string }>;
}

export interface TrainerExit {
  exitCode: number | null;
  signal: string | null;
  done?: DoneEvent;
  error?: ErrorEvent;
  /** Last lines of stderr, oldest first. */
  stderrTail: string[];
  /** stdout lines that were not a valid protocol event (each is logged into stderrTail too). */
  invalidLines: number;
  /** Whether we sent the group SIGTERM / SIGKILL. */
  terminated: boolean;
  killed: boolean;
}

export interface TrainerProcess {
  readonly pid: number;
  /** Resolves once the trainer has exited, stdout is drained, and its process group has been reaped. */
  readonly exited: Promise<TrainerExit>;
  /** SIGTERM to the group (checkpoint and exit 75), then SIGKILL to the group after `graceMs`; resolves on exit. */
  terminate(graceMs: number): Promise<TrainerExit>;
}

/** Every trainer this process started and has not reaped yet: preempted on worker shutdown, killed at exit. */
const live = new Set<LiveTrainer>();

interface LiveTrainer {
  pid: number;
  signalGroup(sig: NodeJS.Signals): boolean;
  terminate(graceMs: number): Promise<TrainerExit>;
}

let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A worker that exits normally (not SIGKILL) takes its trainers' groups with it. SIGKILL of the worker is covered by
  // the trainer itself: its stdin pipe closes and it checkpoints and exits (docs/design.md#the-trainer-protocol).
  process.on('exit', () => {
    for (const t of live) t.signalGroup('SIGKILL');
  });
}

/** Pids of the trainer process groups this process is running now. */
export function liveTrainerPids(): number[] {
  return [...live].map((t) => t.pid);
}

/** Asks every running trainer to checkpoint and exit (worker shutdown); resolves when all have exited. */
export async function preemptAllTrainers(graceMs: number): Promise<void> {
  await Promise.all([...live].map((t) => t.terminate(graceMs)));
}

function signalGroup(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** True while any process of the group `pgid` is alive. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Starts `python -m lakeforge_trainer <mode> --config <path>`: an argument array, no shell, its own process group,
 * stdin an open pipe we never write to (its EOF tells the trainer we died), stdout parsed as protocol events,
 * stderr's tail kept for failure messages.
 */
export function launchTrainer(opts: LaunchOptions): TrainerProcess {
  installExitHook();
  const tailMax = opts.stderrTailLines ?? 40;
  const stderrTail: string[] = [];
  const keep = (line: string) => {
    stderrTail.push(line.length > 2000 ? `${line.slice(0, 2000)}…` : line);
    if (stderrTail.length > tailMax) stderrTail.shift();
  };

  const child: ResultPromise = execa(opts.python, opts.argv ?? trainerArgv(opts.mode, opts.configPath, opts.torchrun), {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: false,
    detached: true,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    // Our own SIGTERM → grace → SIGKILL goes to the whole group; execa's would reach the leader only.
    forceKillAfterDelay: false,
    cleanup: false,
  });
  // No pid: the spawn failed (no python, EACCES); `exited` then reports it like a crash.
  const pid = child.pid ?? -1;

  let done: DoneEvent | undefined;
  let error: ErrorEvent | undefined;
  let invalidLines = 0;
  let terminated = false;
  let killed = false;

  const stdoutDone = new Promise<void>((resolve) => {
    if (!child.stdout) return resolve();
    const rl = createInterface({ input: child.stdout, crlfDelay: Infinity });
    rl.on('line', (line) => {
      if (line.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        invalidLines++;
        keep(`[stdout, not JSON] ${line}`);
        return;
      }
      const parsed = (opts.eventSchema ?? TrainerEventSchema).safeParse(value) as z.ZodSafeParseResult<TrainerEvent>;
      if (!parsed.success) {
        invalidLines++;
        keep(`[stdout, not a protocol event: ${parsed.error.issues[0]?.message ?? 'invalid'}] ${line}`);
        return;
      }
      const ev = parsed.data;
      if (ev.event === 'done') done = ev;
      if (ev.event === 'error') error = ev;
      opts.onEvent?.(ev);
    });
    rl.on('close', () => resolve());
  });
  const stderrDone = new Promise<void>((resolve) => {
    if (!child.stderr) return resolve();
    const rl = createInterface({ input: child.stderr, crlfDelay: Infinity });
    rl.on('line', keep);
    rl.on('close', () => resolve());
  });

  const t: LiveTrainer = {
    pid,
    signalGroup: (sig) => (pid > 0 ? signalGroup(pid, sig) : false),
    terminate: async (graceMs) => {
      if (!terminated) {
        terminated = true;
        t.signalGroup('SIGTERM');
        const timer = setTimeout(() => {
          if (groupAlive(pid)) {
            killed = true;
            t.signalGroup('SIGKILL');
          }
        }, graceMs);
        exited.finally(() => clearTimeout(timer)).catch(() => {});
      }
      return exited;
    },
  };

  const leaderExit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const exited: Promise<TrainerExit> = (async () => {
    // The leader's exit, not the end of its pipes: a grandchild holding them open must not keep us waiting.
    await Promise.race([leaderExit, child]);
    // Reap: anything the trainer left in its group (data loader workers, a stray grandchild) goes with it. What the
    // trainer wrote before exiting is still in the pipe and is read below.
    if (pid > 0 && groupAlive(pid)) {
      signalGroup(pid, 'SIGKILL');
      const until = Date.now() + 5_000;
      while (groupAlive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    }
    const result = await child;
    await Promise.all([stdoutDone, stderrDone]);
    live.delete(t);
    if (result.failed && result.exitCode === undefined && !result.signal) {
      // Could not start at all (ENOENT, EACCES): a crash with the reason as the tail.
      keep(String(result.message));
    }
    return {
      exitCode: result.exitCode ?? null,
      signal: result.signal ?? null,
      done,
      error,
      stderrTail,
      invalidLines,
      terminated,
      killed,
    };
  })();

  if (pid > 0) live.add(t);
  return { pid, exited, terminate: t.terminate };
}
