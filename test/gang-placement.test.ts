// Gang placement (docs/distributed-training.md#gang-placement): a multi-node group is admitted whole by its queue's
// slot broker or holds nothing. Three GPU workers of one CPU slot each (one in this process, two processes), and two
// 2-node runs started together: the pool fits one group at a time, so the second must be admitted only after the
// first released, and neither may ever sit on a slot waiting for its other node. Then a worker of an admitted group
// is SIGKILLed: its lease lapses, the group is admitted again on the living workers and resumes from its checkpoint.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Worker } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { connectTestServer, uniqueTaskQueue, workflowBundle } from './helpers/temporal.js';
import { makeLocalLake, type TestLake } from './fixtures/lake-helpers.js';
import { publishFeatures, tinyTrainParams, TRAINER_PYTHON, waitFor } from './fixtures/training-helpers.js';
import { readEvents, spawnNodeWorker, stopNodeWorker } from './fixtures/node-workers.js';
import { createGpuActivities, SlotAllocator, parseGpuSpec } from '../steps/index.js';
import { listLakeCheckpoints, checkpointsPrefix } from '../steps/train/checkpoints.js';
import { joinGang } from '../workers/gang-member.js';
import { sharedQueuePermits } from '../workers/activity-permits.js';
import { liveMembers, nextRequest, place, refusal } from '../workflows/gang-placement.js';
import { gangBrokerId, gangStateQuery, type GangBrokerState, type GangMember, type GangRequest } from '../contracts/gang.js';
import type { DistributedTrainInput } from '../workflows/distributed-train.js';
import type { StepResult } from '../contracts/step-result.js';
import type { TrainerEvent } from '../contracts/trainer-protocol.js';

type History = temporal.api.history.v1.IHistory;
const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

const member = (workerId: string, slots: number, free = slots): GangMember & { seenAt: number } =>
  ({ workerId, queue: `q@${workerId}`, slots, free, leaseMs: 1000, seenAt: 0 });
const request = (groupId: string, over: Partial<GangRequest> = {}): GangRequest =>
  ({ groupId, replyTo: `wf-${groupId}`, nnodes: 2, perNode: 1, priorityKey: 3, ...over });
const state = (over: Partial<GangBrokerState> = {}): GangBrokerState => ({ members: {}, pending: [], grants: {}, seq: 0, admitted: 0, ...over });

describe('slot reservations on a worker', () => {
  it('are all-or-nothing, never jump a waiting step, lapse unclaimed, and claim into an ordinary hold', async () => {
    const a = new SlotAllocator(parseGpuSpec('cpu:2')!);
    expect(a.tryReserve(3, 1000)).toBeNull();
    const r = a.tryReserve(2, 1000)!;
    expect(r.slots.map((s) => s.id)).toEqual(['cpu0', 'cpu1']);
    expect(a.available).toBe(0);
    // A reserved slot is not free: a step waits for it; a second reservation finds nothing.
    const waiting = a.acquireMany(1);
    expect(a.tryReserve(1, 1000)).toBeNull();
    const hold = a.claim(r.token)!;
    expect(a.claim(r.token)).toBeUndefined();
    hold.release();
    (await waiting).release();
    // A step waiting first keeps its place: a reservation never jumps it.
    const busy = await a.acquireMany(2);
    const queued = a.acquireMany(1);
    busy.release();
    const after = a.tryReserve(1, 1000);
    expect(after).not.toBeNull();
    (await queued).release();
    expect(a.cancelReservation(after!.token)).toBe(true);
    // Unclaimed, a reservation gives its slots back after its time.
    const lapsing = a.tryReserve(2, 50)!;
    const changes: number[] = [];
    a.onChange(() => changes.push(a.available));
    await new Promise((res) => setTimeout(res, 120));
    expect(a.claim(lapsing.token)).toBeUndefined();
    expect(a.available).toBe(2);
    expect(changes).toContain(2);
  });
});

describe('the shared GPU queue\'s task permits', () => {
  it('leave out the slots gang nodes hold or reserved, so the shared worker polls only for work a slot can run', async () => {
    const a = new SlotAllocator(parseGpuSpec('cpu:2')!);
    const permits = sharedQueuePermits(a);
    const ctx = {} as never;
    const never = new AbortController().signal;
    await permits.reserveSlot(ctx, never);
    const r = a.tryReserve(1, 10_000)!;
    // One slot is the gang's, one permit is out: the next poll waits.
    expect(permits.tryReserveSlot(ctx)).toBeNull();
    let got = false;
    const next = permits.reserveSlot(ctx, never).then(() => { got = true; });
    await new Promise((res) => setTimeout(res, 20));
    expect(got).toBe(false);
    // The gang node runs and ends: its slot is the shared queue's again.
    a.claim(r.token)!.release();
    await next;
    expect(permits.issued).toBe(2);
    permits.releaseSlot({} as never);
    expect(permits.issued).toBe(1);
    // An aborted wait gives nothing out.
    a.tryReserve(1, 10_000);
    const ac = new AbortController();
    const aborted = permits.reserveSlot(ctx, ac.signal).catch((e: unknown) => e);
    ac.abort();
    // Rejected with the signal's reason, which the SDK takes as a quiet shutdown (anything else it logs as an error).
    expect(await aborted).toBe(ac.signal.reason);
    expect(permits.issued).toBe(1);
  });
});

describe('the broker\'s decisions', () => {
  it('places nodes on distinct workers first, packs only when it must, and does not fit a group it cannot hold whole', () => {
    const pool = [member('a', 2), member('b', 1), member('c', 1)];
    expect(place(request('g'), pool)!.map((p) => p.member.workerId)).toEqual(['a', 'b']);
    expect(place(request('g', { nnodes: 3 }), pool)!.map((p) => p.member.workerId)).toEqual(['a', 'b', 'c']);
    expect(place(request('g', { nnodes: 4 }), pool)!.map((p) => p.member.workerId)).toEqual(['a', 'b', 'c', 'a']);
    expect(place(request('g', { nnodes: 5 }), pool)).toBeUndefined();
    expect(place(request('g'), [member('a', 1, 0), member('b', 1), member('c', 1, 0)])).toBeUndefined();
    expect(refusal(request('g', { perNode: 4 }), pool)).toContain('gpusPerNode is 4, but the largest GPU worker in the pool offers 2');
    expect(refusal(request('g', { perNode: 4 }), [])).toBeUndefined();
  });

  it('admits the most urgent first, then the team with the smaller share, then the oldest; a group larger than the pool waits aside', () => {
    const pool = [member('a', 1), member('b', 1), member('c', 1)];
    const pending = (rs: GangRequest[]) => rs.map((r, seq) => ({ ...r, seq, since: 0 }));
    const s = state({ pending: pending([request('old'), request('urgent', { priorityKey: 1 }), request('huge', { nnodes: 9, priorityKey: 1 })]) });
    expect(nextRequest(s, pool)!.groupId).toBe('urgent');
    const fair = state({
      pending: pending([request('ml-2', { fairnessKey: 'ml' }), request('search-1', { fairnessKey: 'search' })]),
      grants: { g: { request: request('ml-1', { fairnessKey: 'ml' }), nodes: [], at: 0 } },
    });
    expect(nextRequest(fair, pool)!.groupId).toBe('search-1');
    // Liveness is the lease: a member whose last beat is older than its lease is not placed on.
    const m = state({ members: { a: { ...member('a', 1), seenAt: 0 }, b: { ...member('b', 1), seenAt: 5000 } } });
    expect(liveMembers(m, 5500).map((x) => x.workerId)).toEqual(['b']);
  });
});

describe('a broker with nothing to place', () => {
  let server: Awaited<ReturnType<typeof connectTestServer>>;
  afterAll(async () => { await server?.close(); });

  it('continues-as-new on beats alone, so an idle queue\'s history stays bounded and its members carry over', async () => {
    server = await connectTestServer();
    const gpuQueue = uniqueTaskQueue('gpu-idle-broker');
    const worker = await Worker.create({ connection: server.nativeConnection, taskQueue: gpuQueue, ...workflowBundle() });
    const id = gangBrokerId(gpuQueue);
    const max = 40;
    await worker.runUntil(async () => {
      // What a GPU worker with nothing to run sends: a beat with the same free slots, every few seconds, for days.
      // None of them is news to the loop, and each one costs the history a signal and a workflow task.
      for (let i = 0; i < 60; i++) {
        await server.client.workflow.signalWithStart('gangBrokerWorkflow', {
          workflowId: id, taskQueue: gpuQueue, args: [{ gpuQueue, maxHistoryEvents: max }],
          signal: 'gangBeat', signalArgs: [{ ...member('w1', 1), queue: `${gpuQueue}@w1`, leaseMs: 60_000, free: 1 }],
        });
        await server.client.workflow.getHandle(id).query(gangStateQuery);
      }
      const s = await server.client.workflow.getHandle(id).query(gangStateQuery);
      expect(Object.keys(s.members)).toEqual(['w1']);
    });
    const runs: string[] = [];
    for await (const wf of server.client.workflow.list({ query: `WorkflowId = '${id}'` })) runs.push(wf.runId);
    expect(runs.length).toBeGreaterThan(1);
    const histories = await Promise.all(runs.map((runId) => server.client.workflow.getHandle(id, runId).fetchHistory()));
    // Past the limit it continues at the next workflow task: a few events over, never the hundreds 60 beats add.
    for (const h of histories) expect(h.events!.length).toBeLessThan(max + 10);
    for (const history of histories) await Worker.runReplayHistory(workflowBundle(), history, id);
    await server.client.workflow.getHandle(id).terminate('test over');
  });
});

describe('two 2-node runs on three 1-slot GPU workers', () => {
  let server: Awaited<ReturnType<typeof connectTestServer>>;
  let tl: TestLake;
  let features: StepResult;
  const homes: string[] = [];
  const procs: { child: ChildProcess; workerId: string; events: string }[] = [];
  const seen: { e: TrainerEvent; attempt: number; runId?: string }[] = [];
  const gpuQueue = uniqueTaskQueue('gpu-gang');
  const STEP_SLEEP = '0.25'; // slow enough to kill a worker mid-training
  const workers: Worker[] = [];
  const running: Promise<void>[] = [];
  let local: Awaited<ReturnType<typeof joinGang>>;

  beforeAll(async () => {
    process.env.LAKEFORGE_RDZV_HOST = '127.0.0.1';
    server = await connectTestServer();
    tl = await makeLocalLake();
    features = await publishFeatures(tl.lake);
    const slots = new SlotAllocator(parseGpuSpec('cpu:1')!);
    const activities = createGpuActivities({
      home: tl.home, python: TRAINER_PYTHON, slots, heartbeatEveryMs: 1_000,
      trainerEnv: { OMP_NUM_THREADS: '1', LAKEFORGE_TRAINER_STEP_SLEEP: STEP_SLEEP },
      onTrainerEvent: (e, at) => seen.push({ e, attempt: at.attempt, runId: at.runId }),
    });
    // The workflows (groups and the broker) run here; the broker continues-as-new often, to prove it loses nothing.
    const w = await Worker.create({ connection: server.nativeConnection, taskQueue: gpuQueue, ...workflowBundle(), activities, maxConcurrentActivityTaskExecutions: 1 });
    workers.push(w);
    running.push(w.run());
    local = await joinGang({
      connection: server.nativeConnection, gpuQueue, slots, activities: { trainNode: activities.trainNode }, workerId: 'local',
      leaseMs: 3_000, broker: { maxHistoryEvents: 150 },
    });
    workers.push(local.worker);
    running.push(local.run());
    await waitFor('the broker started by the first member', async () =>
      (await server.client.workflow.getHandle(gangBrokerId(gpuQueue)).query(gangStateQuery).catch(() => undefined))?.members.local, 30_000, 100);
    for (const id of ['p1', 'p2']) {
      const home = await mkdtemp(join(tmpdir(), `lakeforge-gang-${id}-`));
      homes.push(home);
      const events = join(home, 'events.jsonl');
      const p = await spawnNodeWorker(server.address, gpuQueue, home, events, STEP_SLEEP, { MN_WORKER_ID: id, LAKEFORGE_GANG_LEASE_S: '3' });
      procs.push({ ...p, events });
    }
  });
  afterAll(async () => {
    await local?.leave();
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.all(procs.map((p) => stopNodeWorker(p.child)));
    await Promise.all(running);
    await server?.close();
    await tl?.cleanup();
    for (const h of homes) await rm(h, { recursive: true, force: true });
  });

  const broker = () => server.client.workflow.getHandle(gangBrokerId(gpuQueue));
  const all = () => [...seen, ...procs.flatMap((p) => readEvents<(typeof seen)[number]>(p.events))];
  const start = (runId: string, epochs: number) => {
    const args: DistributedTrainInput = {
      nnodes: 2,
      input: {
        lake: tl.uri, dataset: 'test', runId, step: 'train', model: `tiny-${runId}`, inputs: { features },
        params: tinyTrainParams({ hparams: { epochs }, checkpointEverySteps: 6, resources: { gpus: 2, gpusPerNode: 1 } }),
      },
      activity: {
        taskQueue: gpuQueue, startToCloseTimeout: '10 minutes', heartbeatTimeout: '10s', cancellationType: 'WAIT_CANCELLATION_COMPLETED' as never,
        retry: { maximumAttempts: 3, initialInterval: '200 milliseconds', nonRetryableErrorTypes: ['BadInput', 'SchemaMismatch', 'InvalidPipeline'] },
      },
    };
    return server.client.workflow.start('distributedTrainWorkflow', { taskQueue: gpuQueue, workflowId: `wf-${runId}`, args: [args] });
  };
  /** When the group workflow heard its grants, and its node activities' schedule, start and end times. */
  const timeline = (h: History) => {
    const ev = h.events!;
    const granted = ev.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'gangGranted').map((e) => ms(e.eventTime));
    const scheduled = ev.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => ms(e.eventTime));
    const started = ev.filter((e) => e.activityTaskStartedEventAttributes).map((e) => ms(e.eventTime));
    const ended = ev.filter((e) => e.activityTaskCompletedEventAttributes || e.activityTaskFailedEventAttributes || e.activityTaskTimedOutEventAttributes).map((e) => ms(e.eventTime));
    const queues = ev.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.taskQueue!.name!);
    return { granted, scheduled, started, ended, queues };
  };

  it('admits one group whole, the other only after it released; neither holds a slot while waiting', async () => {
    const ids = [`gang-a-${Date.now()}`, `gang-b-${Date.now()}`];
    const handles = await Promise.all(ids.map((id) => start(id, 2)));
    // Both ask at once: exactly one is granted while the other holds nothing.
    await waitFor('one grant and one request waiting', async () => {
      const s = await broker().query(gangStateQuery);
      return Object.keys(s.grants).length === 1 && s.pending.length === 1 ? s : undefined;
    }, 60_000, 50);
    const results = await Promise.all(handles.map((h) => h.result()));
    for (const r of results) expect(r.metrics).toMatchObject({ steps: 24, attempts: 1 });
    const [first, second] = (await Promise.all(handles.map(async (h) => timeline(await h.fetchHistory()))))
      .sort((x, y) => x.granted[0] - y.granted[0]);
    for (const t of [first, second]) {
      expect(t.granted.length).toBe(1);
      expect(t.scheduled.length).toBe(2);
      // Each node went to a worker's own queue, two distinct workers, and started only after the whole group was granted.
      expect(new Set(t.queues).size).toBe(2);
      for (const q of t.queues) expect(q.startsWith(`${gpuQueue}@`)).toBe(true);
      for (const s of t.scheduled) expect(s).toBeGreaterThanOrEqual(t.granted[0]);
    }
    // The second group got nothing, and scheduled nothing, until the first group's nodes had ended.
    const firstEnded = Math.max(...first.ended);
    expect(second.granted[0]).toBeGreaterThanOrEqual(firstEnded);
    expect(Math.min(...second.scheduled)).toBeGreaterThanOrEqual(firstEnded);
    // No rendezvous ever timed out, no node failed: every trainer of both runs started once, in a 2-rank group.
    const started = all().filter((s) => ids.includes(s.runId!) && s.e.event === 'started').map((s) => (s.e as { world_size: number }).world_size);
    expect(started).toEqual([2, 2]);
    const s = await broker().query(gangStateQuery);
    expect(s.grants).toEqual({});
    expect(s.pending).toEqual([]);
    expect(s.admitted).toBeGreaterThanOrEqual(2);
    // The broker's history stayed bounded: it continued-as-new, and no grant was lost across it.
    const runs: string[] = [];
    for await (const wf of server.client.workflow.list({ query: `WorkflowId = '${gangBrokerId(gpuQueue)}'` })) runs.push(wf.runId);
    expect(runs.length).toBeGreaterThan(1);
    for (const runId of runs) {
      const h = await server.client.workflow.getHandle(gangBrokerId(gpuQueue), runId).fetchHistory();
      expect(h.events!.length).toBeLessThan(400);
    }
  });

  it('a worker of an admitted group is SIGKILLed: its lease lapses, the group is admitted on the living workers and resumes', async () => {
    const runId = `gang-kill-${Date.now()}`;
    const handle = await start(runId, 3);
    const grant = await waitFor('the group admitted', async () => {
      const s = await broker().query(gangStateQuery);
      return Object.values(s.grants).find((g) => g.request.replyTo === handle.workflowId);
    }, 60_000, 50);
    // The grant holds at least one worker process (only one worker lives in this process): kill that one.
    const victim = procs.find((p) => grant.nodes.some((n) => n.workerId === p.workerId))!;
    expect(victim).toBeDefined();
    await waitFor('a checkpoint in the lake and training beyond it', async () => {
      const cks = await listLakeCheckpoints(tl.lake, checkpointsPrefix(runId, 'train'));
      const steps = all().filter((x) => x.runId === runId && x.e.event === 'progress').map((x) => (x.e as { step: number }).step);
      return cks.length > 0 && Math.max(-1, ...steps) >= cks[cks.length - 1].step + 2 ? true : undefined;
    }, 120_000, 50);
    victim.child.kill('SIGKILL');
    const trained = await handle.result();
    expect(trained.metrics).toMatchObject({ steps: 36, attempts: 2 });
    const resumed = all().filter((s) => s.runId === runId && s.attempt === 2 && s.e.event === 'started').map((s) => s.e as { resumed_from_step: number; world_size: number });
    expect(resumed.length).toBe(1);
    expect(resumed[0].world_size).toBe(2);
    expect(resumed[0].resumed_from_step).toBeGreaterThan(0);
    // The second group was placed on the two living workers only.
    const t = timeline(await handle.fetchHistory());
    expect(t.granted.length).toBe(2);
    const second = t.queues.slice(2);
    expect(second.length).toBe(2);
    expect(second.some((q) => q.endsWith(`@${victim.workerId}`))).toBe(false);
    const s = await broker().query(gangStateQuery);
    expect(s.grants).toEqual({});
  });
});
