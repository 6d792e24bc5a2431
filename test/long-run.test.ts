// A pipeline's history stays bounded however long training takes (issue 12, docs/long-runs.md).
// This file starts a dev server of its own with Temporal's history limits lowered from 51,200/10,240 events to
// HISTORY_ERROR/HISTORY_WARN, then trains a slow tiny model that reports progress every ~20 ms for about a minute
// (thousands of progress events, the heartbeat carrying each). The run must complete under the lowered limit with
// a history of at most HISTORY_BOUND events, while getProgress shows the training step advancing.
// The control case proves the limit bites: the same run with progress signalled to the workflow as the old relay
// did (here one signal per 20 progress events, so the outcome depends on how much training ran, not on the clock)
// is terminated by the server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError, TerminatedFailure } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { ensureGoTool } from '../infra/tools.mjs';
import { freePort, spawnDevServer } from '../infra/temporal/server.mjs';
import { getProgress, startPipeline } from '../sdk/pipelines.js';
import { liveTrainerPids } from '../steps/index.js';
import { stepProgressSignal } from '../workflows/pipeline.js';
import type { TrainerEvent } from '../contracts/trainer-protocol.js';
import type { TrainerEventContext } from '../activities/trainer/deps.js';
import { connectServer, workflowBundle } from './helpers/temporal.js';
import { createPipelineTestEnv, smallNewsSpec, type PipelineTestEnv } from './fixtures/pipeline-env.js';

const HISTORY_ERROR = 300;
const HISTORY_WARN = 150;
/** The whole five-step run: about 10 events per step plus start/end and search-attribute upserts, whatever the duration. */
const HISTORY_BOUND = 80;
const EventType = temporal.api.enums.v1.EventType;

let child: ChildProcess;
let env: PipelineTestEnv;
let server: Awaited<ReturnType<typeof connectServer>>;
const progressEvents = new Map<string, number>();
/** Swapped per case: the control case relays progress to the workflow as signals, like the removed relay. */
let onEvent: (e: TrainerEvent, at: TrainerEventContext) => void = () => {};

beforeAll(async () => {
  const temporalBin: string = await ensureGoTool('temporal');
  const port: number = await freePort();
  const logFile = join(mkdtempSync(join(tmpdir(), 'lakeforge-longrun-temporal-')), 'server.log');
  child = await spawnDevServer({
    temporalBin, port, uiPort: null, dbFile: null, logFile,
    dynamicConfig: { 'limit.historyCount.error': HISTORY_ERROR, 'limit.historyCount.warn': HISTORY_WARN },
  });
  server = await connectServer(`127.0.0.1:${port}`);
  env = await createPipelineTestEnv({
    server,
    // ~20 ms a step: a minute of training is a few thousand steps, each reported (progressEverySeconds below).
    trainerEnv: { LAKEFORGE_TRAINER_STEP_SLEEP: '0.005' },
    onTrainerEvent: (e, at) => {
      if (e.event === 'progress' && at.runId) progressEvents.set(at.runId, (progressEvents.get(at.runId) ?? 0) + 1);
      onEvent(e, at);
    },
  });
});

afterAll(async () => {
  await env?.close(); // closes `server` too
  // The server runs in its own process group: stop the group, and make sure it is gone.
  const pid = child?.pid;
  if (!pid) return;
  try { process.kill(-pid, 'SIGTERM'); } catch { return; }
  for (let i = 0; i < 100; i++) {
    try { process.kill(-pid, 0); } catch { return; }
    await new Promise((r) => setTimeout(r, 100));
  }
  try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
});

/** A train step of a few thousand steps that reports progress at every step; `seed` makes a new model version. */
function longSpec(seed: number) {
  return smallNewsSpec((s) => {
    const t = s.steps.find((x: any) => x.uses === 'train');
    t.with.hparams = { ...t.with.hparams, epochs: 18, batch_size: 8, eval_every_steps: null };
    t.with.progressEverySeconds = 0.01;
    t.with.checkpointEverySteps = 500;
    t.with.seed = seed;
  });
}

async function historyOf(handle: { fetchHistory(): Promise<temporal.api.history.v1.IHistory> }) {
  const events = (await handle.fetchHistory()).events ?? [];
  return { events, signals: events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED).length };
}

function histogram(events: temporal.api.history.v1.IHistoryEvent[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) {
    const name = (EventType[e.eventType ?? 0] ?? String(e.eventType)).replace(/^EVENT_TYPE_/, '');
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

describe('a long training run under lowered history limits', () => {
  it(`completes with at most ${HISTORY_BOUND} history events while training reports thousands of progress events`, async () => {
    await env.run(async () => {
      const handle = await startPipeline(server.client, longSpec(1001), { lake: env.lake, queues: env.queues, runKey: `long-${process.pid}` });
      // runKey per process: the trainer's local run directory (under LAKEFORGE_HOME) is keyed by the run id.
      const runId = `news-topics-long-${process.pid}`;
      const seen: Array<{ step: number; loss?: number; at: number }> = [];
      let done = false;
      const result = handle.result().finally(() => { done = true; });
      while (!done) {
        const train = (await getProgress(handle).catch(() => undefined))?.steps.find((s) => s.name === 'train');
        if (train?.state === 'running' && typeof train.training?.step === 'number') {
          seen.push({ step: train.training.step, loss: train.training.loss, at: Date.now() });
        }
        await Promise.race([result.catch(() => {}), new Promise((r) => setTimeout(r, 1_000))]);
      }
      const out = await result;
      expect(out.status).toBe('succeeded');
      const final = await getProgress(handle);
      const t = final.steps.find((s) => s.name === 'train')!;
      const trainSeconds = (t.endedAt! - t.startedAt!) / 1000;
      const { events, signals } = await historyOf(handle);
      const figures = {
        trainSeconds, trainerSteps: out.steps.train.metrics?.steps, progressEvents: progressEvents.get(runId),
        historyEvents: events.length, signals, livePolls: seen.length, eventTypes: histogram(events),
        firstSeen: seen[0], lastSeen: seen[seen.length - 1],
      };
      process.stderr.write(`[long-run] ${JSON.stringify(figures)}\n`);

      // Long enough that one signal per progress event (or the control's one per 20) would pass the limit many times.
      expect(progressEvents.get(runId)!).toBeGreaterThan(2_000);
      expect(signals).toBe(0);
      expect(events.length).toBeLessThanOrEqual(HISTORY_BOUND);
      // Live progress was visible while training ran, and it advanced.
      const steps = seen.map((s) => s.step);
      expect(new Set(steps).size).toBeGreaterThan(5);
      expect(Math.max(...steps)).toBeGreaterThan(Math.min(...steps));
      expect(seen.some((s) => typeof s.loss === 'number')).toBe(true);
      // The history is still one the current workflow code replays.
      await Worker.runReplayHistory(workflowBundle(), { events }, handle.workflowId);
    });
  }, 600_000);

  it('control: the same run with progress signalled to the workflow is terminated by the lowered limit', async () => {
    // What the removed workers/progress-relay.ts did, spaced by progress events instead of by time.
    const counted = new Map<string, number>();
    onEvent = (e, at) => {
      if (e.event !== 'progress' || !at.runId) return;
      const n = (counted.get(at.runId) ?? 0) + 1;
      counted.set(at.runId, n);
      if (n % 20 !== 0) return;
      void server.client.workflow.getHandle(`lakeforge/news-topics/control-${process.pid}`)
        .signal(stepProgressSignal, { step: 'train', progress: { step: e.step, loss: e.loss, etaSeconds: e.eta_s } })
        .catch(() => {});
    };
    try {
      await env.run(async () => {
        const handle = await startPipeline(server.client, longSpec(2002), { lake: env.lake, queues: env.queues, runKey: `control-${process.pid}` });
        const err = await handle.result().catch((e) => e);
        expect(err).toBeInstanceOf(WorkflowFailedError);
        expect((err as WorkflowFailedError).cause).toBeInstanceOf(TerminatedFailure);
        const { events, signals } = await historyOf(handle);
        process.stderr.write(`[long-run control] ${JSON.stringify({ historyEvents: events.length, signals, progressEvents: progressEvents.get(`news-topics-control-${process.pid}`) })}\n`);
        expect(events.length).toBeGreaterThanOrEqual(HISTORY_ERROR);
        // The terminated run's train activity is cancelled: its trainer checkpoints and is reaped before the workers stop.
        for (let i = 0; i < 240 && liveTrainerPids().length; i++) await new Promise((r) => setTimeout(r, 250));
        expect(liveTrainerPids()).toEqual([]);
      });
    } finally {
      onEvent = () => {};
    }
  }, 300_000);
});
