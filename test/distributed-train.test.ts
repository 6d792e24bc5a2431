// Multi-slot train steps: the allocator's atomic, first-come-first-served holds; `with.resources` validation; and a
// real 2-rank (gloo, two CPU slots) train activity whose rank 1 is SIGKILLed mid-training: the whole group goes,
// the attempt fails TrainerCrashed, and the retry resumes from the checkpoint to the exact step count.
import { describe, expect, it } from 'vitest';
import { useGpuTestEnv } from './fixtures/gpu-test-env.js';
import { readdirSync, readFileSync } from 'node:fs';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { pidAlive, tinyTrainParams, waitFor } from './fixtures/training-helpers.js';
import { SlotAllocator, parseGpuSpec } from '../steps/index.js';
import { combineSlots } from '../activities/trainer/slots.js';
import { requiredSlots, torchrunEnv, trainerArgv } from '../activities/trainer/distributed.js';
import { TrainParamsSchema } from '../steps/train/params.js';
import { listLakeCheckpoints, checkpointsPrefix } from '../steps/train/checkpoints.js';
import type { TrainerEvent } from '../contracts/trainer-protocol.js';
import type { TrainingTestArgs } from './fixtures/training-workflows.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('multi-slot holds', () => {
  it('holds N slots at once or none, first come first served', async () => {
    const a = new SlotAllocator(parseGpuSpec('4')!);
    const one = await a.acquireMany(1);
    let big: string[] | undefined;
    let small: string[] | undefined;
    const pBig = a.acquireMany(4).then((h) => { big = h.slots.map((s) => s.id); return h; });
    const pSmall = a.acquireMany(1).then((h) => { small = h.slots.map((s) => s.id); return h; });
    await tick();
    // The 4-slot step holds nothing while it waits, and the 1-slot step behind it does not jump the queue.
    expect(big).toBeUndefined();
    expect(small).toBeUndefined();
    expect(a.available).toBe(3);
    one.release();
    const hBig = await pBig;
    expect(big).toEqual(['0', '1', '2', '3']);
    await tick();
    expect(small).toBeUndefined();
    hBig.release();
    hBig.release(); // twice is once
    (await pSmall).release();
    expect(a.available).toBe(4);
    await expect(a.acquireMany(5)).rejects.toThrow('this worker has 4');
  });

  it('an aborted large wait lets the smaller waiters behind it through', async () => {
    const a = new SlotAllocator(parseGpuSpec('cpu:2')!);
    expect(a.slots.map((s) => s.id)).toEqual(['cpu0', 'cpu1']);
    const held = await a.acquireMany(1);
    const ac = new AbortController();
    const pBig = a.acquireMany(2, ac.signal);
    let got: string | undefined;
    const pSmall = a.acquire().then((s) => { got = s.id; return s; });
    await tick();
    expect(got).toBeUndefined();
    ac.abort(new Error('cancelled'));
    await expect(pBig).rejects.toThrow('cancelled');
    expect((await pSmall).id).toBe('cpu1');
    held.release();
  });

  it('combines held slots into one CUDA_VISIBLE_DEVICES, validates with.resources, builds the launcher command', () => {
    expect(combineSlots(parseGpuSpec('1,3')!)).toEqual({ id: '1+3', kind: 'gpu', cudaVisibleDevices: '1,3' });
    expect(combineSlots(parseGpuSpec('cpu:2')!)).toMatchObject({ kind: 'cpu', cudaVisibleDevices: '' });
    const zero = TrainParamsSchema.safeParse({ ...tinyTrainParams(), resources: { gpus: 0 } });
    expect(zero.success).toBe(false);
    expect(zero.error!.issues[0].path).toEqual(['resources', 'gpus']);
    expect(() => requiredSlots({ gpus: 8 }, 2, 'train m')).toThrow(/with\.resources\.gpus is 8, but this worker offers 2/);
    expect(requiredSlots(undefined, 1, 'train m')).toBe(1);
    expect(torchrunEnv(20_000)).toEqual({ TORCH_ELASTIC_SHUTDOWN_TIMEOUT: '20' });
    expect(trainerArgv('train', '/r.json')).toEqual(['-m', 'lakeforge_trainer', 'train', '--config', '/r.json']);
    const argv = trainerArgv('train', '/r.json', { nprocPerNode: 2 });
    expect(argv.slice(0, 5)).toEqual(['-m', 'lakeforge_trainer.launch', '--nproc-per-node', '2', '--standalone']);
    expect(argv.slice(-5)).toEqual(['-m', 'lakeforge_trainer', 'train', '--config', '/r.json']);
    expect(trainerArgv('train', '/r.json', { nprocPerNode: 8, nnodes: 2, rdzvEndpoint: '10.0.0.1:29400', rdzvId: 'run-1' }))
      .toEqual(expect.arrayContaining(['--nnodes', '2', '--rdzv-backend', 'c10d', '--rdzv-endpoint', '10.0.0.1:29400']));
  });
});

/** {rank: pid} of a launcher's worker processes, from /proc. */
function ranksOf(launcher: number): Record<number, number> {
  const out: Record<number, number> = {};
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== launcher) continue;
      const rank = /(?:^|\0)RANK=(\d+)/.exec(readFileSync(`/proc/${d}/environ`, 'utf8'));
      if (rank) out[Number(rank[1])] = Number(d);
    } catch { /* gone */ }
  }
  return out;
}

describe('a 2-rank train step on two CPU slots', () => {
  const seen: { e: TrainerEvent; attempt: number; pid: number; runId?: string }[] = [];
  const TOTAL = 48; // 4 epochs × 12 steps of 16 rows (8 per rank)
  const gpu = useGpuTestEnv({
    queue: 'gpu-dist', concurrency: 2,
    deps: {
      slots: new SlotAllocator(parseGpuSpec('cpu:2')!),
      trainerEnv: { LAKEFORGE_TRAINER_STEP_SLEEP: '0.15', LAKEFORGE_TRAINER_VALIDATE_EVENTS: '1' },
      heartbeatEveryMs: 1_000,
      onTrainerEvent: (e, at) => seen.push({ e, attempt: at.attempt, pid: at.pid, runId: at.runId }),
    },
  });

  const start = (runId: string, gpus: number) => {
    const args: TrainingTestArgs = {
      lake: gpu.tl.uri, runId, model: `tiny-${runId}`, features: gpu.features, gpuQueue: gpu.gpuQueue, heartbeatTimeout: '20s', maxAttempts: 3,
      train: tinyTrainParams({ hparams: { epochs: 4 }, checkpointEverySteps: 6, resources: { gpus } }),
    };
    return gpu.server.client.workflow.start('trainingTestWorkflow', { taskQueue: gpu.gpuQueue, workflowId: `wf-${runId}`, args: [args] });
  };
  const of = (runId: string, attempt: number) => seen.filter((s) => s.runId === runId && s.attempt === attempt);

  it('SIGKILL of one rank takes the group down, fails TrainerCrashed, and the retry resumes to the exact step count', async () => {
    const runId = `dist-kill-${Date.now()}`;
    const handle = await start(runId, 2);
    const { pid, ranks } = await waitFor('a checkpoint in the lake and training beyond it', async () => {
      const cks = await listLakeCheckpoints(gpu.tl.lake, checkpointsPrefix(runId, 'train'));
      const progress = of(runId, 1).filter((s) => s.e.event === 'progress').map((s) => (s.e as { step: number }).step);
      const first = of(runId, 1)[0];
      if (!first || !cks.length || Math.max(-1, ...progress) < cks[cks.length - 1].step + 2) return undefined;
      const r = ranksOf(first.pid);
      return r[1] ? { pid: first.pid, ranks: r } : undefined;
    }, 170_000, 50);
    expect((of(runId, 1)[0].e as { world_size: number }).world_size).toBe(2);
    const killedAt = Date.now();
    process.kill(ranks[1], 'SIGKILL');
    await waitFor('the whole group to exit', () => ![pid, ranks[0], ranks[1]].some(pidAlive), 15_000, 20);
    process.stderr.write(`[measure] 2-rank group gone ${((Date.now() - killedAt) / 1000).toFixed(2)} s after SIGKILL of rank 1\n`);
    const { trained } = await handle.result();
    expect(trained.metrics).toMatchObject({ steps: TOTAL, attempts: 2 });
    const started2 = of(runId, 2).find((s) => s.e.event === 'started')!.e as { resumed_from_step: number; world_size: number };
    expect(started2.world_size).toBe(2);
    expect(started2.resumed_from_step).toBeGreaterThan(0);
    const history = await gpu.server.client.workflow.getHandle(handle.workflowId).fetchHistory();
    const attempts = history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!);
    expect(attempts.map((a) => a.attempt), JSON.stringify(attempts)).toEqual([2]);
    // The server may wrap a large failure (the surviving rank's traceback is in the message) as "exceeds size limit".
    const last = attempts[0].lastFailure;
    expect(last?.applicationFailureInfo?.type ?? last?.cause?.applicationFailureInfo?.type, JSON.stringify(last)).toBe('TrainerCrashed');
  });

  it('more GPUs than the worker has fails InvalidPipeline at once, naming with.resources.gpus', async () => {
    const handle = await start(`dist-big-${Date.now()}`, 3);
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    let cause = (err as WorkflowFailedError).cause;
    while (cause && !(cause instanceof ApplicationFailure && cause.type === 'InvalidPipeline')) cause = (cause as ActivityFailure).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).message).toContain('with.resources.gpus is 3');
    const history = await handle.fetchHistory();
    expect(history.events!.filter((e) => e.activityTaskStartedEventAttributes).length).toBe(1);
  });
});
