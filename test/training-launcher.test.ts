// Unit tests of the trainer launcher, its failure mapping and the slot allocator, against a test double of the
// trainer process (test/fixtures/training-fake-trainer). The real trainer is exercised by the other training tests.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../activities/common/config.js';
import { groupAlive, launchTrainer, liveTrainerPids } from '../activities/trainer/launcher.js';
import { failureOf, trainerEnv } from '../activities/trainer/supervise.js';
import { CPU_SLOT, parseGpuSpec, resolveSlots, SlotAllocator, detectNvidiaGpus } from '../activities/trainer/slots.js';
import type { TrainerEvent } from '../contracts/trainer-protocol.js';

const python = join(loadConfig().home, 'venv', 'bin', 'python');
const fakeDir = resolve(__dirname, 'fixtures', 'training-fake-trainer');

function launch(mode: string, extra: Record<string, string> = {}) {
  const events: TrainerEvent[] = [];
  const env = trainerEnv(CPU_SLOT, fakeDir, { FAKE_MODE: mode, ...extra }, { ...process.env, FAKE_SECRET: 's3cret', GOOGLE_APPLICATION_CREDENTIALS: '/x.json' });
  const p = launchTrainer({ python, mode: 'train', configPath: '/dev/null', cwd: fakeDir, env, onEvent: (e) => events.push(e) });
  return { p, events };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('launcher', () => {
  it('parses and validates JSON lines, keeps the environment to what the trainer needs, maps exit 0', async () => {
    const { p, events } = launch('ok');
    const exit = await p.exited;
    expect(exit.exitCode).toBe(0);
    expect(events.map((e) => e.event)).toEqual(['started', 'progress', 'done']);
    expect(exit.invalidLines).toBe(2);
    expect(exit.stderrTail.join('\n')).toContain('not a protocol event');
    expect(exit.done?.metrics).toEqual({ accuracy: 0.9 });
    expect(failureOf(exit, 't')).toBeNull();
    // The CPU slot hides every GPU; credentials and unrelated variables never reach the trainer.
    const started = events[0] as Record<string, unknown>;
    expect(started.event).toBe('started');
    const env = trainerEnv(CPU_SLOT, fakeDir, {}, { PATH: '/bin', GOOGLE_APPLICATION_CREDENTIALS: '/x.json', FAKE_SECRET: 's', OMP_NUM_THREADS: '1' });
    expect(env).toMatchObject({ PATH: '/bin', OMP_NUM_THREADS: '1', CUDA_VISIBLE_DEVICES: '', PYTHONPATH: fakeDir });
    expect(env.GOOGLE_APPLICATION_CREDENTIALS).toBeUndefined();
    expect(env.FAKE_SECRET).toBeUndefined();
    expect(liveTrainerPids()).not.toContain(p.pid);
  });

  it('maps exit 2 to non-retryable BadInput (SchemaMismatch for a missing column) and others to TrainerCrashed with the stderr tail', async () => {
    const bad = failureOf(await launch('bad').p.exited, 'train m');
    expect(bad).toMatchObject({ type: 'BadInput', nonRetryable: true });
    expect(bad!.message).toContain("unknown label 'zzz'");
    expect(failureOf(await launch('missing-column').p.exited, 'train m')).toMatchObject({ type: 'SchemaMismatch', nonRetryable: true });
    const crash = failureOf(await launch('crash').p.exited, 'train m');
    expect(crash).toMatchObject({ type: 'TrainerCrashed', nonRetryable: false });
    expect(crash!.message).toContain('exited with code 3');
    expect(crash!.message).toContain('traceback line 59');
    expect(crash!.message).not.toContain('traceback line 10\n');
  });

  it('SIGTERMs the group on terminate: the trainer checkpoints and exits 75 → Preempted', async () => {
    const { p, events } = launch('run');
    while (!events.some((e) => e.event === 'progress')) await new Promise((r) => setTimeout(r, 20));
    const exit = await p.terminate(10_000);
    expect(exit.exitCode).toBe(75);
    expect(exit.terminated).toBe(true);
    expect(exit.killed).toBe(false);
    expect(events.at(-1)).toMatchObject({ event: 'checkpoint', reason: 'preempt' });
    expect(failureOf(exit, 't')).toMatchObject({ type: 'Preempted', nonRetryable: false });
    expect(groupAlive(p.pid)).toBe(false);
  });

  it('SIGKILLs the group when the grace runs out', async () => {
    const { p, events } = launch('ignore-term');
    while (!events.some((e) => e.event === 'progress')) await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    const exit = await p.terminate(500);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(exit.signal).toBe('SIGKILL');
    expect(exit.killed).toBe(true);
    expect(failureOf(exit, 't')).toMatchObject({ type: 'TrainerCrashed' });
    expect(groupAlive(p.pid)).toBe(false);
  });

  it('reaps what the trainer leaves in its process group', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'lf-launch-')), 'gc');
    const { p } = launch('grandchild', { FAKE_GRANDCHILD_FILE: file });
    const exit = await p.exited;
    expect(exit.exitCode).toBe(0);
    const gc = Number(readFileSync(file, 'utf8'));
    expect(gc).toBeGreaterThan(0);
    expect(alive(gc)).toBe(false);
  });

  it('reports a trainer that cannot start as a crash', async () => {
    const p = launchTrainer({ python: '/nonexistent/python', mode: 'train', configPath: '/dev/null', env: {} });
    const exit = await p.exited;
    expect(failureOf(exit, 't')).toMatchObject({ type: 'TrainerCrashed' });
  });
});

describe('slots', () => {
  it('reads LAKEFORGE_GPUS as a count, a list, or cpu, and falls back to nvidia-smi, then one CPU slot', () => {
    expect(parseGpuSpec(undefined)).toBeUndefined();
    expect(parseGpuSpec('0')).toEqual([CPU_SLOT]);
    expect(parseGpuSpec('cpu')).toEqual([CPU_SLOT]);
    expect(parseGpuSpec('2')!.map((s) => s.cudaVisibleDevices)).toEqual(['0', '1']);
    expect(parseGpuSpec('1,3')!.map((s) => s.cudaVisibleDevices)).toEqual(['1', '3']);
    expect(parseGpuSpec('3,')!.map((s) => s.cudaVisibleDevices)).toEqual(['3']);
    expect(() => parseGpuSpec('1;rm -rf')).toThrow();
    expect(resolveSlots(undefined, () => [])).toEqual([CPU_SLOT]);
    expect(resolveSlots(undefined, () => ['0', '1']).map((s) => s.id)).toEqual(['0', '1']);
    expect(resolveSlots('0', () => ['0', '1'])).toEqual([CPU_SLOT]);
    expect(detectNvidiaGpus(() => 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-x)\nGPU 1: NVIDIA H100 (UUID: GPU-y)\n')).toEqual(['0', '1']);
    expect(detectNvidiaGpus(() => { throw new Error('ENOENT'); })).toEqual([]);
  });

  it('gives each holder its own slot and queues the rest', async () => {
    const a = new SlotAllocator(parseGpuSpec('2')!);
    const s1 = await a.acquire();
    const s2 = await a.acquire();
    expect(new Set([s1.id, s2.id]).size).toBe(2);
    let third: string | undefined;
    const p3 = a.acquire().then((s) => (third = s.id));
    await new Promise((r) => setTimeout(r, 10));
    expect(third).toBeUndefined();
    s1.release();
    s1.release(); // twice is once
    await p3;
    expect(third).toBe(s1.id);
    expect(a.available).toBe(0);
    const ac = new AbortController();
    const p4 = a.acquire(ac.signal);
    ac.abort(new Error('cancelled'));
    await expect(p4).rejects.toThrow('cancelled');
    s2.release();
    expect(a.available).toBe(1);
  });
});
