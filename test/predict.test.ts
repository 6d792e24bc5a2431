// The predict step (steps/predict): the champion over newly cleaned rows, against a real dev server, real workers,
// DuckDB and the trainer. Every input row scored once, with its key; a re-run is a cache hit; a new champion makes
// the next run score again; an input far from the model's evaluation data fails DriftExceeded when maxDrift is set.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { createPipelineTestEnv, smallNewsSpec } from './fixtures/pipeline-env.js';
import { startPipeline } from '../sdk/pipelines.js';
import { createPipelineSchedule, describePipelineSchedule, scheduledRunKey } from '../sdk/schedules.js';
import { openLake } from '../activities/lake/index.js';
import { readChampion } from '../steps/promote/activity.js';
import { psi } from '../steps/predict/drift.js';
import { Worker } from '@temporalio/worker';
import { readEvents, spawnNodeWorker, stopNodeWorker } from './fixtures/node-workers.js';
import { TRAINER_PYTHON, waitFor } from './fixtures/training-helpers.js';
import { createGpuActivities, parseGpuSpec, SlotAllocator } from '../steps/index.js';
import { PredictParamsSchema } from '../steps/predict/params.js';

/** clean → predict with the champion of news-bert, over the news dataset's raw files. */
function scoringSpec(over: Record<string, unknown> = {}, dataset?: string) {
  const train = smallNewsSpec();
  return {
    name: 'news-scoring', model: train.model,
    dataset: { ...train.dataset, ...(dataset ? { name: dataset } : {}) },
    steps: [
      train.steps[0],
      { name: 'predict', uses: 'predict', needs: ['clean'], with: { model: train.model, ...over } },
    ],
  };
}

async function query(sql: string, values: Record<string, unknown> = {}) {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    return (await conn.runAndReadAll(sql, values as never)).getRowObjectsJson();
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/** The step's own failure under the pipeline's StepFailed and the activity wrapper. */
const stepFailure = (err: unknown): ApplicationFailure | undefined => {
  for (let e = err as { cause?: unknown } | undefined; e; e = e.cause as typeof e) if (e instanceof ApplicationFailure && e.type && e.type !== 'StepFailed') return e;
  return undefined;
};
const typeOf = (err: unknown) => stepFailure(err)?.type;

describe('predict parameters and drift arithmetic', () => {
  it('takes name or name@version; PSI is zero for equal distributions and grows with the shift', () => {
    expect(PredictParamsSchema.safeParse({ model: 'news-bert@abc123' }).success).toBe(true);
    expect(PredictParamsSchema.safeParse({ model: 'news bert' }).success).toBe(false);
    expect(psi([10, 20, 30], [1, 2, 3])).toBeCloseTo(0, 12);
    expect(psi([30, 20, 10], [10, 20, 30])).toBeGreaterThan(0.25);
    expect(psi([12, 20, 28], [10, 20, 30])).toBeLessThan(0.1);
  });
});

describe('predict with the champion', () => {
  it('scores every cleaned row once, caches, re-scores for a new champion, and fails DriftExceeded on a drifted input', async () => {
    const seen: { mode: string }[] = [];
    const env = await createPipelineTestEnv({ rows: 600, onTrainerEvent: (e, c) => { if (e.event === 'started') seen.push({ mode: c.mode }); } });
    const work = mkdtempSync(join(tmpdir(), 'lakeforge-predict-'));
    try {
      await env.run(async () => {
        const { client } = env.server;
        const trained = await (await startPipeline(client, smallNewsSpec(), { lake: env.lake, queues: env.queues, runKey: 'train-1' })).result();
        const lake = openLake(env.lake);
        const champion = await readChampion(lake, 'news-bert');
        expect(champion?.version).toBe(trained.steps.train.version);

        // No champion named: a clear error on with.model, not retried.
        const none = await startPipeline(client, scoringSpec({ model: 'no-such-model' }), { lake: env.lake, queues: env.queues, runKey: 'none' });
        const noneErr = await none.result().catch((e: unknown) => e);
        expect(noneErr).toBeInstanceOf(WorkflowFailedError);
        expect(typeOf(noneErr)).toBe('BadInput');
        expect(stepFailure(noneErr)!.message).toContain('with.model: model no-such-model has no champion');

        const h1 = await startPipeline(client, scoringSpec(), { lake: env.lake, queues: env.queues, runKey: 'score-1' });
        const first = await h1.result();
        const p = first.steps.predict;
        expect(p.cached).toBe(false);
        expect(p.rows).toBe(first.steps.clean.rows);
        expect(p.uri).toContain('/predictions/news/');
        const rel = lake.relative(p.uri.replace(/\/$/, ''));
        const manifest = JSON.parse((await lake.readText(`${rel}/_manifest.json`))!);
        // Lineage: the input's version and the model's.
        expect(manifest.inputs).toEqual([first.steps.clean.version, champion!.version]);
        expect(manifest.modelVersion).toBe(champion!.version);
        expect(Object.keys(manifest.drift.labels).sort()).toEqual(['business', 'sci_tech', 'sports', 'world']);
        const parts = `${lake.uri(rel).replace('file://', '')}/part-*.parquet`;
        const clean = `${first.steps.clean.uri.replace('file://', '').replace(/\/$/, '')}/*.parquet`;
        const [stats] = await query(
          `SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS ids, min(len(top_labels))::INT AS k,
                  bool_and(score BETWEEN 0 AND 1 AND top_labels[1] = prediction AND abs(top_scores[1] - score) < 1e-6) AS consistent
           FROM read_parquet($parts)`, { parts });
        expect(stats).toEqual({ n: p.rows, ids: p.rows, k: 3, consistent: true });
        // Exactly the cleaned rows' keys: none missing, none extra.
        const [diff] = await query(`SELECT (SELECT count(*) FROM (SELECT id FROM read_parquet($clean) EXCEPT SELECT id FROM read_parquet($parts)))::INT AS missing,
                                           (SELECT count(*) FROM (SELECT id FROM read_parquet($parts) EXCEPT SELECT id FROM read_parquet($clean)))::INT AS extra`, { clean, parts });
        expect(diff).toEqual({ missing: 0, extra: 0 });
        const report = (await lake.readText(`${rel}/report.html`))!;
        expect(report).toContain('Population stability index');
        expect(report).toContain(`${p.rows} rows scored by news-bert version ${champion!.version}`);
        // The same rows drawn like the evaluation's: little drift.
        expect(p.metrics!.drift_label_psi).toBeLessThan(0.25);
        expect(p.metrics!.drift_length_psi).toBeLessThan(0.25);

        const again = await (await startPipeline(client, scoringSpec(), { lake: env.lake, queues: env.queues, runKey: 'score-2' })).result();
        expect(again.steps.predict.cached).toBe(true);
        expect(again.steps.predict.version).toBe(p.version);

        // A new champion (another seed, promoted without having to beat the old one): the next run scores again.
        const spec2 = smallNewsSpec((sp) => {
          sp.steps.find((s: { uses: string }) => s.uses === 'train').with.seed = 7;
          sp.steps.find((s: { uses: string }) => s.uses === 'promote').with.mustBeatChampion = false;
        });
        const retrained = await (await startPipeline(client, spec2, { lake: env.lake, queues: env.queues, runKey: 'train-2' })).result();
        expect(retrained.steps.train.version).not.toBe(champion!.version);
        expect((await readChampion(lake, 'news-bert'))?.version).toBe(retrained.steps.train.version);
        const rescored = await (await startPipeline(client, scoringSpec(), { lake: env.lake, queues: env.queues, runKey: 'score-3' })).result();
        expect(rescored.steps.predict.cached).toBe(false);
        expect(rescored.steps.predict.version).not.toBe(p.version);

        // A drifted delivery: long texts about one topic only. With maxDrift it fails, named, not retried, unpublished.
        const drifted = join(work, 'drifted.parquet');
        await query(`COPY (SELECT 'd' || i AS id, repeat('stock market earnings rally shares ', 30) || i AS text, 'business' AS label,
                            '4' AS rating, TIMESTAMP '2026-01-01' AS updated_at, 'feed' AS source FROM range(200) t(i)) TO '${drifted}' (FORMAT parquet)`);
        await lake.putFile(drifted, 'raw/drifted/part-0.parquet');
        const spec = scoringSpec({ maxDrift: 0.25 }, 'drifted');
        const handle = await startPipeline(client, spec, { lake: env.lake, queues: env.queues, runKey: 'drift' });
        const err = await handle.result().catch((e: unknown) => e);
        expect(typeOf(err)).toBe('DriftExceeded');
        expect(stepFailure(err)!.message).toMatch(/(lengthPsi|labelPsi) [\d.]+ .*above with\.maxDrift 0\.25/);
        expect(await lake.list('predictions/drifted')).toEqual([]);
        const history = await handle.fetchHistory();
        const attempts = history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
        expect(Math.max(...attempts.map((a) => a ?? 1))).toBe(1);
        // Without maxDrift the same input is scored, and the drift is in the result for a schedule to watch.
        const loose = await (await startPipeline(client, scoringSpec({}, 'drifted'), { lake: env.lake, queues: env.queues, runKey: 'drift-ok' })).result();
        expect(loose.steps.predict.rows).toBe(200);
        expect(loose.steps.predict.metrics!.drift_length_psi).toBeGreaterThan(0.25);

        // SIGKILL of the GPU worker mid-scoring: the next worker scores only the parts that were not finished.
        const killQueue = `${env.queues.gpu}-kill`;
        const home2 = mkdtempSync(join(tmpdir(), 'lakeforge-predict-w2-'));
        const proc = await spawnNodeWorker(env.server.address, killQueue, home2, join(home2, 'events.jsonl'), '1');
        try {
          const spec3 = scoringSpec({ partRows: 100 });
          Object.assign(spec3.steps[1], { queue: killQueue, heartbeatTimeout: '5s', retry: { maximumAttempts: 3, initialInterval: '1s' } });
          const killed = await startPipeline(client, spec3, { lake: env.lake, queues: env.queues, runKey: 'kill' });
          const scratch = await waitFor('two scored parts mirrored to the lake', async () => {
            // The only run with more than one part (100 rows a part): its second part is there.
            const second = (await lake.list('_work/predict')).find((o) => /part-00001\.parquet$/.test(o.path));
            return second ? (await lake.list(second.path.replace(/\/[^/]+$/, ''))).filter((o) => /part-\d+\.parquet$/.test(o.path)) : undefined;
          }, 120_000, 100);
          proc.child.kill('SIGKILL');
          const survivor = await Worker.create({
            connection: env.server.nativeConnection, taskQueue: killQueue,
            activities: createGpuActivities({ home: join(home2, 'survivor'), python: TRAINER_PYTHON, slots: new SlotAllocator(parseGpuSpec('cpu:1')!), trainerEnv: { OMP_NUM_THREADS: '1' } }),
          });
          const out = await survivor.runUntil(killed.result());
          const r = out.steps.predict;
          expect(r.rows).toBe(first.steps.clean.rows);
          expect(r.metrics!.resumed_parts).toBeGreaterThanOrEqual(scratch.length);
          const rel2 = lake.relative(r.uri.replace(/\/$/, ''));
          const parts2 = `${lake.uri(rel2).replace('file://', '')}/part-*.parquet`;
          const [k] = await query(`SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS ids,
                                     (SELECT count(*) FROM (SELECT id FROM read_parquet($clean) EXCEPT SELECT id FROM read_parquet($parts)))::INT AS missing
                                   FROM read_parquet($parts)`, { parts: parts2, clean });
          expect(k).toEqual({ n: r.rows, ids: r.rows, missing: 0 });
          // The scratch copies went with the publication.
          expect((await lake.list('_work/predict')).filter((o) => o.path.includes(r.version))).toEqual([]);
        } finally {
          await stopNodeWorker(proc.child);
          rmSync(home2, { recursive: true, force: true });
        }

        // The scheduled form (examples/pipelines/intents-scoring.yaml's shape): a Temporal Schedule starts the
        // scoring run; with the delivery and the champion unchanged, its predict step is the cache hit above.
        const schedule = await createPipelineSchedule(client, scoringSpec(), { every: '24h', lake: env.lake, queues: env.queues, paused: true });
        try {
          await schedule.trigger();
          const run = await waitFor('the scheduled run', async () => (await describePipelineSchedule(client, schedule.scheduleId)).recentRuns[0], 60_000, 200);
          expect(run.workflowId).toContain(`lakeforge/news-scoring/${scheduledRunKey(schedule.scheduleId)}`);
          const scheduled = await client.workflow.getHandle(run.workflowId).result();
          expect(scheduled.steps.predict).toMatchObject({ cached: true, version: rescored.steps.predict.version });
        } finally {
          await schedule.delete();
        }

        // shards: 2 on two GPU workers: both score at once, the step's own activity publishes from their parts.
        const home3 = mkdtempSync(join(tmpdir(), 'lakeforge-predict-w3-'));
        const events3 = join(home3, 'events.jsonl');
        const second = await spawnNodeWorker(env.server.address, env.queues.gpu, home3, events3, '0.5');
        try {
          seen.length = 0;
          const sharded = await startPipeline(client, scoringSpec({ shards: 2, partRows: 50 }), { lake: env.lake, queues: env.queues, runKey: 'sharded' });
          const res = (await sharded.result()).steps.predict;
          expect(res.rows).toBe(first.steps.clean.rows);
          const parts = Math.ceil(res.rows! / 50);
          // Every part came from a shard: the publishing activity found them all and scored none itself.
          expect(res.metrics!.resumed_parts).toBe(parts);
          const child = client.workflow.getHandle(`${sharded.workflowId}/predict`);
          expect((await child.describe()).type).toBe('shardedPredictWorkflow');
          const acts = (await child.fetchHistory()).events!.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name);
          expect(acts).toEqual(['predictShard', 'predictShard', 'predict']);
          // One shard on each worker: this process's trainer and the other worker's both ran in predict mode.
          expect(seen.filter((x) => x.mode === 'predict').length).toBeGreaterThanOrEqual(1);
          expect(readEvents<{ e: { event: string; mode?: string } }>(events3).filter((x) => x.e.event === 'started' && x.e.mode === 'predict').length).toBe(1);
          const rel3 = lake.relative(res.uri.replace(/\/$/, ''));
          const [k] = await query(`SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS ids FROM read_parquet($parts)`, { parts: `${lake.uri(rel3).replace('file://', '')}/part-*.parquet` });
          expect(k).toEqual({ n: res.rows, ids: res.rows });
        } finally {
          await stopNodeWorker(second.child);
          rmSync(home3, { recursive: true, force: true });
        }
      });
    } finally {
      rmSync(work, { recursive: true, force: true });
      await env.close();
    }
  }, 600_000);
});
