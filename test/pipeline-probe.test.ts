// The whole-DAG cache probe (workflows/pipeline-probe.ts): a fully cached run is answered in its first workflow task,
// with a fixed number of history events whatever its step count, and it still verifies the published files.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPipeline } from '../sdk/pipelines.js';
import { createDuckDb } from '../activities/duckdb/instance.js';
import { createEtlActivities } from '../steps/index.js';
import { createPipelineTestEnv, smallNewsSpec, type PipelineTestEnv } from './fixtures/pipeline-env.js';
import { uniqueTaskQueue, workflowBundle } from './helpers/temporal.js';

let env: PipelineTestEnv;
beforeAll(async () => { env = await createPipelineTestEnv({ rows: 400 }); });
afterAll(async () => { await env?.close(); });

/** clean, then n pass-through SQL steps in a chain. */
function chain(n: number) {
  return smallNewsSpec((s) => {
    const clean = s.steps.find((x: { uses: string }) => x.uses === 'clean');
    s.name = `chain-${n}`;
    s.steps = [clean, ...Array.from({ length: n }, (_, i) => ({
      name: `step-${i + 1}`, uses: 'sql', needs: [i ? `step-${i}` : clean.name], with: { file: 'sql/bench/passthrough.sql', output: `step-${i + 1}` },
    }))];
  });
}

async function run(n: number, runKey: string) {
  const h = await startPipeline(env.server.client, chain(n), { lake: env.lake, queues: env.queues, runKey });
  const out = await h.result();
  const history = await h.fetchHistory();
  return { out, history, events: history.events ?? [] };
}

type Ev = { activityTaskScheduledEventAttributes?: unknown; markerRecordedEventAttributes?: { markerName?: string | null } | null };
const scheduled = (events: Ev[]) => events.filter((e) => e.activityTaskScheduledEventAttributes).length;
/** Local activities (the probe, small steps run inline: workflows/inline-steps.ts) are markers in the history. */
const local = (events: Ev[]) => events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length;
const executed = (events: Ev[]) => scheduled(events) + local(events) - 1; // less the probe itself

describe('a fully cached pipeline is one cache probe', () => {
  it('records the same few history events for 2 and 8 cached steps, and no activity', async () => {
    await env.run(async () => {
      const first = await run(8, 'compute');
      expect(Object.values(first.out.steps).every((r) => !r.cached)).toBe(true);
      expect(executed(first.events)).toBe(9);
      // Small steps run inline (workflows/inline-steps.ts): local activities, no activity task through matching.
      expect(scheduled(first.events)).toBe(0);
      await Worker.runReplayHistory(workflowBundle(), first.history, `replay-${first.out.runKey}`);

      const small = await run(2, 'cached-2');
      const big = await run(8, 'cached-8');
      for (const r of [small, big]) {
        expect(Object.values(r.out.steps).every((x) => x.cached)).toBe(true);
        for (const [name, res] of Object.entries(r.out.steps)) expect(res.version).toBe(first.out.steps[name].version);
        expect(scheduled(r.events)).toBe(0);
        expect(local(r.events)).toBe(1); // the probe, and no step
        await Worker.runReplayHistory(workflowBundle(), r.history, `replay-${r.out.runKey}`);
      }
      expect(big.events.length).toBe(small.events.length);
      expect(big.events.length).toBeLessThanOrEqual(12);
    });
  });

  it('still verifies the files: a rewritten output is recomputed, and only it and what follows', async () => {
    await env.run(async () => {
      const base = await run(4, 'verify-base');
      const dir = new URL(base.out.steps['step-3'].uri).pathname;
      const part = readdirSync(dir).find((f) => f.endsWith('.parquet'))!;
      const bytes = readFileSync(join(dir, part));
      writeFileSync(join(dir, part), Buffer.from(bytes)); // the same bytes, written again after publication
      const again = await run(4, 'verify-again');
      expect(['clean', 'step-1', 'step-2'].map((s) => again.out.steps[s].cached)).toEqual([true, true, true]);
      expect(again.out.steps['step-3'].cached).toBe(false);
      expect(executed(again.events)).toBe(2); // step-3 and step-4: step-4's input changed publication
    });
  });
});

describe('a worker without the probe', () => {
  // The SDK fails a local activity the worker lacks eagerly, without a command, but schedules it on replay: a run
  // that fell back past that error could not be replayed (a query on it, or a worker restart, was a
  // nondeterminism error). It must fail the workflow task instead, until a worker that has the probe takes it.
  it('fails the workflow task, and the run completes replayably on a full worker', async () => {
    const db = await createDuckDb({ tempDirectory: join(env.lakeDir, '.duckdb-tmp'), threads: 1 });
    try {
      const { probePipeline: _p, ...partial } = createEtlActivities({ duckdb: db, home: env.lakeDir, defaultLake: env.lake });
      expect(_p).toBeTypeOf('function'); // an ETL worker always has it
      const queues = { etl: uniqueTaskQueue('noprobe-etl'), gpu: uniqueTaskQueue('noprobe-gpu') };
      const h = await startPipeline(env.server.client, chain(2), { lake: env.lake, queues, runKey: 'noprobe' });
      const lacking = await Worker.create({ connection: env.server.nativeConnection, taskQueue: queues.etl, ...workflowBundle(), activities: partial });
      await lacking.runUntil(async () => {
        for (let i = 0; i < 100; i++) {
          const events = (await h.fetchHistory()).events ?? [];
          if (events.some((e) => e.workflowTaskFailedEventAttributes)) break;
          await sleep(100);
        }
      });
      const failedTask = ((await h.fetchHistory()).events ?? []).find((e) => e.workflowTaskFailedEventAttributes);
      expect(failedTask?.workflowTaskFailedEventAttributes?.failure?.message).toMatch(/probePipeline.* not registered/);
      expect((await h.describe()).status.name).toBe('RUNNING');

      const full = await Worker.create({ connection: env.server.nativeConnection, taskQueue: queues.etl, ...workflowBundle(), activities: { ...partial, probePipeline: _p } });
      const out = await full.runUntil(h.result());
      expect(out.status).toBe('succeeded');
      await Worker.runReplayHistory(workflowBundle(), await h.fetchHistory(), 'replay-noprobe');
    } finally {
      db.closeSync();
    }
  });
});
