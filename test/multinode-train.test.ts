// Multi-node train steps (docs/distributed-training.md#3-several-machines): two GPU workers on one task queue, one
// CPU slot each, so the two nodes of a { gpus: 2, gpusPerNode: 1 } step must land on different workers. They
// rendezvous through the lake (node 0 publishes 127.0.0.1:<port>) and train as one 2-rank gloo group. SIGKILL of
// node 1's trainer process group tears the group down; the workflow retries the whole group under a new rendezvous
// id, which resumes from the lake checkpoint to the exact step count.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { connectTestServer, uniqueTaskQueue, workflowBundle } from './helpers/temporal.js';
import { makeLocalLake, type TestLake } from './fixtures/lake-helpers.js';
import { pidAlive, publishFeatures, tinyTrainParams, TRAINER_PYTHON, waitFor } from './fixtures/training-helpers.js';
import { createGpuActivities, SlotAllocator, parseGpuSpec } from '../steps/index.js';
import { TrainParamsSchema } from '../steps/train/params.js';
import { nodesOf, trainerArgv } from '../activities/trainer/distributed.js';
import { listLakeCheckpoints, checkpointsPrefix } from '../steps/train/checkpoints.js';
import { awaitRendezvous, freePort, publishRendezvous, rendezvousPath } from '../activities/trainer/rendezvous.js';
import { trainNodes, type DistributedTrainInput } from '../workflows/distributed-train.js';
import { validatePipeline } from '../workflows/spec/validate.js';
import { joinGang } from '../workers/gang-member.js';
import type { TrainerEvent } from '../contracts/trainer-protocol.js';
import type { StepResult } from '../contracts/step-result.js';
import { getProgress, startPipeline } from '../sdk/pipelines.js';
import { createPipelineTestEnv, smallNewsSpec } from './fixtures/pipeline-env.js';
import { readEvents, spawnNodeWorker, stopNodeWorker } from './fixtures/node-workers.js';

/** {pid: argv} of every lakeforge_trainer.launch process of a rendezvous id starting with `prefix`. */
function launchers(prefix: string): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('--rdzv-id');
      if (argv.includes('lakeforge_trainer.launch') && i > 0 && argv[i + 1]?.startsWith(prefix)) out.set(Number(d), argv);
    } catch { /* gone */ }
  }
  return out;
}

describe('multi-node resources', () => {
  it('gpus must be a multiple of gpusPerNode; the pipeline names the field', () => {
    expect(nodesOf({ gpus: 16, gpusPerNode: 8 })).toBe(2);
    expect(trainNodes({ resources: { gpus: 4, gpusPerNode: 2 } })).toBe(2);
    expect(trainNodes({ resources: { gpus: 4 } })).toBe(1);
    const bad = TrainParamsSchema.safeParse({ ...tinyTrainParams(), resources: { gpus: 3, gpusPerNode: 2 } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0].path).toEqual(['resources', 'gpusPerNode']);
    const v = validatePipeline({
      name: 'p', dataset: { name: 'd' },
      steps: [
        { name: 'clean', uses: 'clean' },
        { name: 'features', uses: 'features', needs: ['clean'], with: { task: 'text-classification' } },
        { name: 'train', uses: 'train', needs: ['features'], with: { ...tinyTrainParams(), resources: { gpus: 3, gpusPerNode: 2 } } },
      ],
    } as never);
    expect(v.ok).toBe(false);
    expect(JSON.stringify(!v.ok && v.errors)).toContain('gpusPerNode');
    const argv = trainerArgv('train', '/r.json', { nprocPerNode: 1, nnodes: 2, rdzvEndpoint: '127.0.0.1:1234', rdzvId: 'g1', rdzvHost: true });
    expect(argv).toEqual(expect.arrayContaining(['--nnodes', '2', '--rdzv-endpoint', '127.0.0.1:1234', '--rdzv-conf', 'is_host=1']));
  });
});

describe('the lake rendezvous', () => {
  it('node 0 publishes host:port, the others read it; a missing address times out retryable', async () => {
    const tl = await makeLocalLake();
    try {
      const port = await freePort('127.0.0.1');
      expect(port).toBeGreaterThan(0);
      const waiting = awaitRendezvous(tl.lake, 'run-1', 'train', 'g1', { everyMs: 20 });
      await publishRendezvous(tl.lake, 'run-1', 'train', 'g1', `127.0.0.1:${port}`);
      expect(await waiting).toBe(`127.0.0.1:${port}`);
      expect(rendezvousPath('run-1', 'train', 'g1')).toBe('_work/rendezvous/run-1/train/g1.json');
      const err = await awaitRendezvous(tl.lake, 'run-1', 'train', 'g2', { everyMs: 20, timeoutMs: 200 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).type).toBe('TrainerCrashed');
      expect((err as ApplicationFailure).message).toContain('LAKEFORGE_RDZV_TIMEOUT_S');
      const ac = new AbortController();
      const aborted = awaitRendezvous(tl.lake, 'run-1', 'train', 'g3', { everyMs: 20, signal: ac.signal }).catch((e: unknown) => e);
      ac.abort(new Error('cancelled'));
      expect(String(await aborted)).toContain('cancelled');
    } finally {
      await tl.cleanup();
    }
  });
});

describe('a 2-node train step on two GPU workers with one CPU slot each', () => {
  let server: Awaited<ReturnType<typeof connectTestServer>>;
  let tl: TestLake;
  let home2: string;
  let features: StepResult;
  const workers: Worker[] = [];
  const running: Promise<void>[] = [];
  const seen: { e: TrainerEvent; attempt: number; runId?: string }[] = [];
  const gpuQueue = uniqueTaskQueue('gpu-mn');
  const STEP_SLEEP = '0.15';
  let other: ChildProcess | undefined;
  let member: Awaited<ReturnType<typeof joinGang>> | undefined;
  let eventsFile = '';
  const TOTAL = 36; // 3 epochs × 12 steps of 16 rows (8 per rank)

  beforeAll(async () => {
    process.env.LAKEFORGE_RDZV_HOST = '127.0.0.1';
    server = await connectTestServer();
    tl = await makeLocalLake();
    home2 = await mkdtemp(join(tmpdir(), 'lakeforge-home2-'));
    features = await publishFeatures(tl.lake);
    const slots = new SlotAllocator(parseGpuSpec('cpu:1')!);
    const activities = createGpuActivities({
        home: tl.home, python: TRAINER_PYTHON, slots,
        trainerEnv: { OMP_NUM_THREADS: '1', LAKEFORGE_TRAINER_STEP_SLEEP: STEP_SLEEP, LAKEFORGE_TRAINER_VALIDATE_EVENTS: '1' },
        heartbeatEveryMs: 1_000,
        onTrainerEvent: (e, at) => seen.push({ e, attempt: at.attempt, runId: at.runId }),
    });
    const w = await Worker.create({
      connection: server.nativeConnection, taskQueue: gpuQueue, ...workflowBundle(), activities,
      maxConcurrentActivityTaskExecutions: 1, maxHeartbeatThrottleInterval: '1s',
    });
    workers.push(w);
    running.push(w.run());
    // The slot broker places each node on a worker of its own (one slot each).
    member = await joinGang({ connection: server.nativeConnection, gpuQueue, slots, activities: { trainNode: activities.trainNode }, maxHeartbeatThrottleInterval: '1s' });
    workers.push(member.worker);
    running.push(member.run());
    // The other "machine": a GPU worker process of its own, with its own LAKEFORGE_HOME.
    eventsFile = join(home2, 'events.jsonl');
    other = (await spawnNodeWorker(server.address, gpuQueue, home2, eventsFile, STEP_SLEEP)).child;
  });
  afterAll(async () => {
    await member?.leave();
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await stopNodeWorker(other);
    await Promise.all(running);
    await server?.close();
    await tl?.cleanup();
    if (home2) await rm(home2, { recursive: true, force: true });
  });

  const start = (runId: string, epochs = 3, resources: { gpus: number; gpusPerNode: number } = { gpus: 2, gpusPerNode: 1 }) => {
    const args: DistributedTrainInput = {
      nnodes: 2,
      input: {
        lake: tl.uri, dataset: 'test', runId, step: 'train', model: `tiny-${runId}`, inputs: { features },
        params: tinyTrainParams({ hparams: { epochs }, checkpointEverySteps: 6, resources }),
      },
      activity: {
        taskQueue: gpuQueue, startToCloseTimeout: '10 minutes', heartbeatTimeout: '20s', cancellationType: 'WAIT_CANCELLATION_COMPLETED' as never,
        retry: { maximumAttempts: 3, initialInterval: '200 milliseconds', nonRetryableErrorTypes: ['BadInput', 'SchemaMismatch', 'InvalidPipeline'] },
      },
    };
    return server.client.workflow.start('distributedTrainWorkflow', { taskQueue: gpuQueue, workflowId: `wf-${runId}`, args: [args] });
  };
  // Both workers' trainer events: whichever node's launcher got global rank 0 speaks.
  const all = () => [...seen, ...readEvents<(typeof seen)[number]>(eventsFile)];
  const of = (runId: string, attempt: number) => all().filter((s) => s.runId === runId && s.attempt === attempt);

  it('completes as one 2-rank group over both workers, with the exact step count', async () => {
    const runId = `mn-ok-${Date.now()}`;
    const trained = await (await start(runId, 2)).result();
    expect(trained.cached).toBe(false);
    expect(trained.metrics).toMatchObject({ steps: 24, attempts: 1 });
    const started = of(runId, 1).filter((s) => s.e.event === 'started').map((s) => s.e as { world_size: number });
    expect(started.map((s) => s.world_size)).toEqual([2]);
    // Node 0 removes its rendezvous object once its group has ended.
    expect(await tl.lake.list(`_work/rendezvous/${runId}/train`)).toEqual([]);
  });

  it('SIGKILL of node 1 tears the group down; the retried group resumes from the checkpoint to the exact step count', async () => {
    const runId = `mn-kill-${Date.now()}`;
    const handle = await start(runId);
    const group1 = `${runId}-train-`;
    const node1 = await waitFor('a checkpoint in the lake and training beyond it', async () => {
      const cks = await listLakeCheckpoints(tl.lake, checkpointsPrefix(runId, 'train'));
      const progress = of(runId, 1).filter((s) => s.e.event === 'progress').map((s) => (s.e as { step: number }).step);
      if (!cks.length || Math.max(-1, ...progress) < cks[cks.length - 1].step + 2) return undefined;
      const ls = launchers(group1);
      expect(ls.size).toBe(2);
      // Both launchers meet at the address node 0 published (LAKEFORGE_RDZV_HOST) in the lake.
      for (const argv of ls.values()) expect(argv[argv.indexOf('--rdzv-endpoint') + 1]).toMatch(/^127\.0\.0\.1:\d+$/);
      const rdzv = await tl.lake.list(`_work/rendezvous/${runId}/train`);
      expect(rdzv.length).toBe(1);
      return [...ls].find(([, argv]) => argv.includes('is_host=0'))?.[0];
    }, 170_000, 50);
    const started1 = of(runId, 1).find((s) => s.e.event === 'started')!.e as { world_size: number };
    expect(started1.world_size).toBe(2);
    const killedAt = Date.now();
    process.kill(-node1, 'SIGKILL');
    // Node 0's launcher and rank (on the other worker) go too: its rank's collectives fail, its agent exits.
    await waitFor('every process of the first group to exit', () => ![...launchers(`${group1}`)].some(([, a]) => a.some((x) => x.endsWith('-g1'))) || undefined, 30_000, 50);
    process.stderr.write(`[measure] 2-node group gone ${((Date.now() - killedAt) / 1000).toFixed(2)} s after SIGKILL of node 1\n`);
    expect(pidAlive(node1)).toBe(false);

    const trained = await handle.result();
    expect(trained.metrics).toMatchObject({ steps: TOTAL, attempts: 2 });
    const started2 = of(runId, 2).find((s) => s.e.event === 'started')!.e as { resumed_from_step: number; world_size: number };
    expect(started2.world_size).toBe(2);
    expect(started2.resumed_from_step).toBeGreaterThan(0);
    const done = all().filter((s) => s.runId === runId && s.e.event === 'done').map((s) => (s.e as { steps: number }).steps);
    expect(done).toEqual([TOTAL]);
    // Two groups of two node activities, each run once; the first group's failure was a crash.
    const history = await handle.fetchHistory();
    const scheduled = history.events!.filter((e) => e.activityTaskScheduledEventAttributes);
    expect(scheduled.length).toBe(4);
    const failed = history.events!.filter((e) => e.activityTaskFailedEventAttributes).map((e) => e.activityTaskFailedEventAttributes!.failure);
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(failed.map((f) => f?.applicationFailureInfo?.type ?? f?.cause?.applicationFailureInfo?.type)).toContain('TrainerCrashed');
    expect(launchers(group1).size).toBe(0);
    // The group retry loop replays deterministically.
    await Worker.runReplayHistory(workflowBundle(), history, handle.workflowId);
  });

  it('more slots per node than a worker has fails InvalidPipeline naming gpusPerNode, without a retry', async () => {
    const handle = await start(`mn-big-${Date.now()}`, 1, { gpus: 4, gpusPerNode: 2 });
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    let cause = (err as WorkflowFailedError).cause;
    while (cause && !(cause instanceof ApplicationFailure && cause.type === 'InvalidPipeline')) cause = (cause as ActivityFailure).cause;
    expect((cause as ApplicationFailure).message).toContain('with.resources.gpusPerNode is 2, but the largest GPU worker in the pool offers 1 slot(s)');
    // The broker refused the group before any node started: nothing was scheduled, nothing held.
    const history = await handle.fetchHistory();
    expect(history.events!.filter((e) => e.activityTaskScheduledEventAttributes).length).toBe(0);
  });
});

describe('a pipeline whose train step spans two nodes', () => {
  it('runs clean → features → train (2 nodes × 1 CPU slot, a child workflow) → evaluate → promote', async () => {
    const seen: { e: TrainerEvent; attempt: number; runId?: string }[] = [];
    // A slower step (both ranks wait on each other), so live progress can be watched while it trains.
    const env = await createPipelineTestEnv({ rows: 600, trainerEnv: { LAKEFORGE_TRAINER_STEP_SLEEP: '0.1' }, onTrainerEvent: (e, at) => seen.push({ e, attempt: at.attempt, runId: at.runId }) });
    const home2 = await mkdtemp(join(tmpdir(), 'lakeforge-home2-'));
    const eventsFile = join(home2, 'events.jsonl');
    let other: ChildProcess | undefined;
    try {
      process.env.LAKEFORGE_RDZV_HOST = '127.0.0.1';
      other = (await spawnNodeWorker(env.server.address, env.queues.gpu, home2, eventsFile, '0')).child;
      await env.run(async () => {
        const spec = smallNewsSpec((sp) => { sp.steps.find((s: { uses: string }) => s.uses === 'train').with.resources = { gpus: 2, gpusPerNode: 1 }; });
        const handle = await startPipeline(env.server.client, spec, { lake: env.lake, queues: env.queues, runKey: 'two-nodes' });
        // Live progress of a multi-node step: getProgress reads the node that speaks, in the child workflow.
        const live: number[] = [];
        let finished = false;
        const result = handle.result().finally(() => { finished = true; });
        while (!finished) {
          const t = (await getProgress(handle).catch(() => undefined))?.steps.find((x) => x.name === 'train');
          if (t?.state === 'running' && typeof t.training?.step === 'number') live.push(t.training.step);
          await Promise.race([result.catch(() => {}), new Promise((r) => setTimeout(r, 250))]);
        }
        const out = await result;
        expect(live.length).toBeGreaterThan(0);
        expect(Math.max(...live)).toBeGreaterThan(0);
        expect(Object.keys(out.steps)).toEqual(['clean', 'features', 'train', 'evaluate', 'promote']);
        // Train's events only (evaluate's trainer speaks too, without a runId).
        const events = [...seen, ...readEvents<(typeof seen)[number]>(eventsFile)].filter((s) => s.runId !== undefined);
        const started = events.filter((s) => s.e.event === 'started').map((s) => s.e as { world_size: number });
        expect(started.map((s) => s.world_size)).toEqual([2]);
        const done = events.filter((s) => s.e.event === 'done').map((s) => (s.e as { steps: number }).steps);
        expect(out.steps.train.metrics).toMatchObject({ steps: done[0], attempts: 1 });
        // The train step ran as the child workflow <pipeline workflow>/train, with one activity per node.
        const child = env.server.client.workflow.getHandle(`${handle.workflowId}/train`);
        expect((await child.describe()).type).toBe('distributedTrainWorkflow');
        const history = await child.fetchHistory();
        const nodes = history.events!.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType?.name);
        expect(nodes).toEqual(['trainNode', 'trainNode']);
      });
    } finally {
      await stopNodeWorker(other);
      await rm(home2, { recursive: true, force: true });
      await env.close();
    }
  });
});
