// Partitioned clean and features (params.partitions) on the real dev server with two ETL workers on one queue, over
// 60 small raw files whose duplicates, re-deliveries and outliers cross file boundaries: the same rows, rejects
// (per reason) and versions as the single-activity steps; conservation; a partition that fails once is retried
// alone; the work is spread over both workers; phases past `tasksPerWorkflow` run in child workflows; a re-run is a
// cache hit; every recorded history replays. Then: a partition that fails for good fails the step and leaves no work
// area, the same steps on gs:// (emulator), and the parameter rules.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { connectTestServer, uniqueTaskQueue, workflowBundle } from './helpers/temporal.js';
import { CleanParamsSchema, FeaturesParamsSchema, createEtlActivities } from '../steps/index.js';
import type { StepResult } from '../contracts/step-result.js';
import { readManifest } from '../activities/lake/index.js';
import { startPipeline } from '../sdk/pipelines.js';
import { makeGcsLake, makeLocalLake, makeS3Lake, testDuckDb, type TestLake } from './fixtures/lake-helpers.js';
import { waitFor } from './fixtures/training-helpers.js';
import { PARTITION_CLEAN_PARAMS, PARTITION_DATASET, PARTITION_OUTLIERS, generatePartitionedNews } from './fixtures/partitioned-data.js';
import { REPO_ROOT } from '../activities/common/config.js';

const FILES = 60;
const ROWS = 6_000;
// 30 map batches of 2 files in children of at most 8 tasks; 8 buckets; features: 1 clean part per batch, children
// nested two deep (tasksPerWorkflow 2), so the child-workflow path is exercised at every level.
const CLEAN_PARTITIONS = { filesPerTask: 2, buckets: 8, concurrency: 6, tasksPerWorkflow: 8 };
const FEATURES_PARTITIONS = { filesPerTask: 1, concurrency: 4, tasksPerWorkflow: 2 };
const FEATURES_PARAMS = { task: 'text-classification' } as const;
const PARTITION_ACTIVITIES = ['shuffleCleanBatch', 'cleanBucket', 'featuresBatch'];

type History = temporal.api.history.v1.IHistory;

/** The history of a workflow and of every child workflow under it, recursively. */
async function histories(client: Client, workflowId: string): Promise<{ workflowId: string; history: History }[]> {
  const out: { workflowId: string; history: History }[] = [];
  const queue = [workflowId];
  while (queue.length) {
    const id = queue.shift()!;
    const history = await client.workflow.getHandle(id).fetchHistory();
    out.push({ workflowId: id, history });
    for (const e of history.events ?? []) {
      const started = e.childWorkflowExecutionStartedEventAttributes;
      if (started) queue.push(started.workflowExecution!.workflowId!);
    }
  }
  return out;
}

/** Every activity attempt that started, with its type, input and the worker that took it. */
function activityStarts(hs: { history: History }[]) {
  return hs.flatMap(({ history }) => {
    const events = history.events ?? [];
    const scheduled = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [Number(e.eventId), e.activityTaskScheduledEventAttributes!]));
    return events.filter((e) => e.activityTaskStartedEventAttributes).map((e) => {
      const st = e.activityTaskStartedEventAttributes!;
      const sch = scheduled.get(Number(st.scheduledEventId))!;
      return {
        type: sch.activityType!.name!,
        attempt: st.attempt ?? 1,
        identity: st.identity ?? '',
        input: JSON.parse(Buffer.from(sch.input!.payloads![0].data!).toString('utf8')) as Record<string, unknown>,
      };
    });
  });
}

describe('partitioned clean and features (child workflows, map/reduce over ETL workers)', () => {
  let server: Awaited<ReturnType<typeof connectTestServer>>;
  let single: TestLake;
  let parted: TestLake;
  let duckdb: DuckDBInstance;
  let conn: DuckDBConnection;
  let tmp: string;
  let rowsIn: number;

  beforeAll(async () => {
    server = await connectTestServer();
    [single, parted] = [await makeLocalLake(), await makeLocalLake()];
    ({ duckdb, conn, tmp } = await testDuckDb());
    // The same raw data in two lakes: one cleaned whole, one partitioned.
    for (const tl of [single, parted]) ({ rows: rowsIn } = await generatePartitionedNews({ lake: tl.lake, conn, files: FILES, rows: ROWS }));
  }, 120_000);
  afterAll(async () => {
    conn?.closeSync();
    duckdb?.closeSync();
    await server?.close();
    for (const tl of [single, parted]) await tl?.cleanup();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const count = async (sql: string) => Number((await conn.runAndReadAll(sql)).getRows()[0][0]);
  /** Rows of `x` not in `y` plus rows of `y` not in `x`, as multisets. */
  const difference = async (x: string, y: string) => {
    const read = (g: string) => `SELECT * FROM read_parquet('${g}', union_by_name = true)`;
    return (await count(`SELECT count(*) FROM (${read(x)} EXCEPT ALL ${read(y)})`)) + (await count(`SELECT count(*) FROM (${read(y)} EXCEPT ALL ${read(x)})`));
  };

  it('gives the single-activity results exactly, retries a failed partition alone, spreads over both workers, then hits the cache', async () => {
    const cleanParams = { ...PARTITION_CLEAN_PARAMS, partitions: CLEAN_PARTITIONS };
    const reference = createEtlActivities({ duckdb, home: single.home });
    const whole = await reference.clean({ lake: single.uri, dataset: 'news', step: 'clean', runId: 'test', inputs: {}, params: PARTITION_CLEAN_PARAMS as never });
    const wholeFeatures = await reference.features({ lake: single.uri, dataset: 'news', step: 'features', runId: 'test', inputs: { input: whole }, params: FEATURES_PARAMS as never });

    const taskQueue = uniqueTaskQueue('etl-parted');
    // Worker A in this process (it also runs workflows): the first clean map and the first features batch it gets
    // fail once, retryably.
    const injected: Record<string, number> = {};
    const failOnce = async <T,>(name: string, batch: number, run: () => Promise<T>): Promise<T> => {
      if (injected[name] === undefined && Context.current().info.attempt === 1) {
        injected[name] = batch;
        throw ApplicationFailure.retryable(`injected failure of ${name} batch ${batch}`, 'Injected');
      }
      return run();
    };
    const { duckdb: db } = await testDuckDb('1GB', 1);
    const acts = createEtlActivities({ duckdb: db, home: parted.home });
    const workerA = await Worker.create({
      connection: server.nativeConnection, taskQueue, identity: 'etl-worker-a', ...workflowBundle(),
      activities: {
        ...acts,
        shuffleCleanBatch: (input: Parameters<typeof acts.shuffleCleanBatch>[0]) => failOnce('shuffleCleanBatch', input.batch, () => acts.shuffleCleanBatch(input)),
        featuresBatch: (input: Parameters<typeof acts.featuresBatch>[0]) => failOnce('featuresBatch', input.batch, () => acts.featuresBatch(input)),
      },
    });
    // Worker B: the real ETL worker process on the same queue (one worker per queue per process is Temporal's rule).
    const workerB = spawn('npx', ['tsx', 'workers/etl.ts'], {
      cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TEMPORAL_ADDRESS: server.address, LAKEFORGE_ETL_TASK_QUEUE: taskQueue, LAKEFORGE_HOME: parted.home, LAKEFORGE_LAKE: parted.uri, LAKEFORGE_DUCKDB_THREADS: '1' },
    });
    let logB = '';
    workerB.stdout!.on('data', (d) => (logB += d));
    workerB.stderr!.on('data', (d) => (logB += d));
    const spec = {
      name: 'parted-news',
      dataset: PARTITION_DATASET,
      defaults: { retry: { initialInterval: '200ms', maximumAttempts: 3 } },
      steps: [
        { name: 'clean', uses: 'clean', with: { outliers: PARTITION_OUTLIERS, partitions: CLEAN_PARTITIONS } },
        { name: 'features', uses: 'features', needs: ['clean'], with: { ...FEATURES_PARAMS, partitions: FEATURES_PARTITIONS } },
      ],
    };
    const run = (runKey: string) => startPipeline(server.client, spec as never, { lake: parted.uri, queues: { etl: taskQueue }, runKey }).then((h) => h.result().then((r) => ({ id: h.workflowId, r })));
    try {
      await waitFor('worker B to poll', () => {
        if (workerB.exitCode !== null) throw new Error(`ETL worker exited ${workerB.exitCode}:\n${logB}`);
        return logB.includes('ETL worker polling') || undefined;
      }, 120_000, 100);
      const [first, again] = await workerA.runUntil(async () => [await run(`first-${Date.now()}`), await run(`again-${Date.now()}`)]);
      const clean = first.r.steps.clean;
      const features = first.r.steps.features;

      // Clean: the same counts per reason, the same rows and rejects (raw values and reasons) as multisets.
      expect(clean).toMatchObject({ step: 'clean', cached: false, rows: whole.rows });
      expect(clean.metrics).toEqual(whole.metrics);
      const m = clean.metrics!;
      expect(m.rows_in).toBe(rowsIn);
      expect(m.rows_in).toBe(m.rows_clean + m.rows_rejected);
      for (const reason of ['duplicate_key', 'duplicate_exact', 'outlier_iqr:score', 'outlier_range:rating', 'cast_failed:rating', 'null:id', 'null:text', 'label_not_in_set:label']) {
        expect(m[`rejected.${reason}`], reason).toBeGreaterThan(0);
      }
      const cleanGlob = (r: StepResult) => `${fileURLToPath(r.uri)}/*.parquet`;
      const rejectsGlob = (r: StepResult) => cleanGlob(r).replace('/clean/', '/rejects/');
      expect(await difference(cleanGlob(whole), cleanGlob(clean))).toBe(0);
      expect(await difference(rejectsGlob(whole), rejectsGlob(clean))).toBe(0);
      expect(await count(`SELECT count(*) - count(DISTINCT id) FROM read_parquet('${cleanGlob(clean)}')`)).toBe(0);
      expect(await count(`SELECT count(*) FROM read_parquet('${cleanGlob(clean)}')`)).toBe(m.rows_clean);
      expect(await count(`SELECT count(*) FROM read_parquet('${rejectsGlob(clean)}', union_by_name = true)`)).toBe(m.rows_rejected);
      // One manifest lists every part, with counts.
      const cleanManifest = (await readManifest(parted.lake, parted.lake.relative(clean.uri)))!;
      expect(cleanManifest.files.length).toBeGreaterThan(1);
      expect(cleanManifest.files.reduce((s, f) => s + f.rows, 0)).toBe(m.rows_clean);

      // Features: the same rows in every split.
      expect(features).toMatchObject({ step: 'features', cached: false, rows: wholeFeatures.rows, metrics: wholeFeatures.metrics });
      for (const split of ['train', 'val', 'test']) {
        const g = (r: StepResult) => `${fileURLToPath(r.uri)}/split=${split}/*.parquet`;
        expect(await difference(g(wholeFeatures), g(features)), split).toBe(0);
      }
      const featuresManifest = (await readManifest(parted.lake, parted.lake.relative(features.uri)))!;
      expect(featuresManifest.files.length).toBeGreaterThan(3);
      expect((featuresManifest as { labelMap?: unknown }).labelMap).toEqual({ business: 0, sci_tech: 1, sports: 2, world: 3 });

      // One version per step whatever the layout: the single-activity steps over the same lake are cache hits.
      expect(await acts.clean({ lake: parted.uri, dataset: 'news', step: 'clean', runId: 'test', inputs: {}, params: PARTITION_CLEAN_PARAMS as never })).toMatchObject({ cached: true, version: clean.version });
      expect(await acts.features({ lake: parted.uri, dataset: 'news', step: 'features', runId: 'test', inputs: { input: clean }, params: FEATURES_PARAMS as never })).toMatchObject({ cached: true, version: features.version });
      expect(await parted.lake.list('_work')).toEqual([]);
      // The re-run: both steps cache hits of the same versions.
      expect(again.r.steps.clean).toMatchObject({ cached: true, version: clean.version });
      expect(again.r.steps.features).toMatchObject({ cached: true, version: features.version });

      // Histories: the pipeline, its two step children, and the children that ran the phases past 8 (2) tasks.
      const hs = await histories(server.client, first.id);
      const ids = hs.map((h) => h.workflowId);
      expect(ids).toContain(`${first.id}/clean`);
      expect(ids).toContain(`${first.id}/features`);
      expect(ids.filter((id) => id.startsWith(`${first.id}/clean/map-`))).toHaveLength(Math.ceil(Math.ceil(FILES / CLEAN_PARTITIONS.filesPerTask) / 8));
      expect(ids.some((id) => /\/features\/map-\d+-\d+\/map-/.test(id))).toBe(true);
      const starts = activityStarts(hs);
      const byType = (t: string) => starts.filter((s) => s.type === t);
      // (Temporal records one started event per activity, for its last attempt.)
      expect(byType('shuffleCleanBatch')).toHaveLength(Math.ceil(FILES / CLEAN_PARTITIONS.filesPerTask));
      expect(byType('cleanBucket')).toHaveLength(CLEAN_PARTITIONS.buckets);
      expect(byType('cleanFences')).toHaveLength(1);
      expect(byType('featuresBatch')).toHaveLength(cleanManifest.files.length);
      // Only the partitions that failed ran twice, and only once more.
      expect(Object.keys(injected).sort()).toEqual(['featuresBatch', 'shuffleCleanBatch']);
      const retried = starts.filter((s) => s.attempt > 1);
      expect(retried.map((s) => [s.type, s.attempt, s.input.batch]).sort()).toEqual([
        ['featuresBatch', 2, injected.featuresBatch],
        ['shuffleCleanBatch', 2, injected.shuffleCleanBatch],
      ]);
      // Both workers took partitions.
      const partitionWorkers = new Set(starts.filter((s) => PARTITION_ACTIVITIES.includes(s.type)).map((s) => s.identity));
      expect(partitionWorkers.has('etl-worker-a')).toBe(true);
      expect(partitionWorkers.size).toBe(2);
      // Small histories: none grows with the partition count.
      const longest = Math.max(...hs.map((h) => h.history.events?.length ?? 0));
      process.stderr.write(`[test] ${hs.length} workflows, ${starts.length} activity attempts, longest history ${longest} events\n`);

      // Every recorded history replays against the current workflow code.
      for await (const r of Worker.runReplayHistories(workflowBundle(), hs.map(({ workflowId, history }) => ({ workflowId, history })))) {
        expect(r.error, r.workflowId).toBeUndefined();
      }
    } finally {
      try { process.kill(-workerB.pid!, 'SIGKILL'); } catch { /* gone */ }
      db.closeSync();
    }
  }, 600_000);

  it('fails the step on a partition that fails for good, stops the others and drops the work area', async () => {
    const tl = await makeLocalLake();
    const { duckdb: db } = await testDuckDb('1GB', 1);
    try {
      await generatePartitionedNews({ lake: tl.lake, conn, files: 8, rows: 400, dataset: 'broken' });
      // One raw file is not Parquet at all.
      await writeFile(join(fileURLToPath(tl.uri), 'raw', 'broken', 'part-00005.parquet'), 'not parquet');
      const taskQueue = uniqueTaskQueue('etl-parted-bad');
      const worker = await Worker.create({ connection: server.nativeConnection, taskQueue, ...workflowBundle(), activities: createEtlActivities({ duckdb: db, home: tl.home }) });
      const err = await worker.runUntil(server.client.workflow.execute('partitionedCleanWorkflow', {
        taskQueue, workflowId: `parted-bad-${Date.now()}`,
        args: [{
          lake: tl.uri, dataset: 'broken', params: { ...PARTITION_CLEAN_PARAMS, partitions: { filesPerTask: 1, buckets: 4, concurrency: 2 } },
          activity: { taskQueue, startToCloseTimeout: '5m', retry: { initialInterval: '200ms', maximumAttempts: 3, nonRetryableErrorTypes: ['BadInput', 'SchemaMismatch', 'InvalidPipeline'] } },
        }],
      }).catch((e) => e));
      expect(err).toBeInstanceOf(WorkflowFailedError);
      type Cause = { cause?: Cause; type?: string; message?: string };
      let cause = (err as WorkflowFailedError).cause as Cause | undefined;
      while (cause?.cause) cause = cause.cause;
      expect(cause).toMatchObject({ type: 'BadInput', message: expect.stringContaining('part-00005.parquet') });
      expect(await tl.lake.list('_work')).toEqual([]);
      expect(await tl.lake.list('clean')).toEqual([]);
    } finally {
      db.closeSync();
      await tl.cleanup();
    }
  }, 300_000);

  it.each([
    ['gs:// (emulator)', () => makeGcsLake(inject('gcsEmulatorHost'))],
    ['s3:// (versitygw)', () => makeS3Lake(inject('s3Server'))],
  ] as const)('gives the same results on %s', async (_label, make) => {
    const [a, b] = [await make(), await make()];
    const { duckdb: db } = await testDuckDb('1GB', 1);
    try {
      for (const tl of [a, b]) await generatePartitionedNews({ lake: tl.lake, conn, files: 12, rows: 1_200 });
      const reference = createEtlActivities({ duckdb: db, home: a.home, lakeOptions: a.lakeOptions });
      const whole = await reference.clean({ lake: a.uri, dataset: 'news', step: 'clean', runId: 'test', inputs: {}, params: PARTITION_CLEAN_PARAMS as never });
      const wholeFeatures = await reference.features({ lake: a.uri, dataset: 'news', step: 'features', runId: 'test', inputs: { input: whole }, params: FEATURES_PARAMS as never });

      const taskQueue = uniqueTaskQueue(`etl-parted-${a.kind}`);
      const acts = createEtlActivities({ duckdb: db, home: b.home, lakeOptions: b.lakeOptions });
      const worker = await Worker.create({ connection: server.nativeConnection, taskQueue, ...workflowBundle(), activities: acts });
      const activity = { taskQueue, startToCloseTimeout: '5m', retry: { initialInterval: '200ms', maximumAttempts: 3 } };
      const [clean, features] = await worker.runUntil(async () => {
        const c = await server.client.workflow.execute('partitionedCleanWorkflow', {
          taskQueue, workflowId: `parted-${a.kind}-clean-${Date.now()}`,
          args: [{ lake: b.uri, dataset: 'news', params: { ...PARTITION_CLEAN_PARAMS, partitions: { filesPerTask: 3, buckets: 4, concurrency: 4 } }, activity }],
        }) as StepResult;
        const f = await server.client.workflow.execute('partitionedFeaturesWorkflow', {
          taskQueue, workflowId: `parted-${a.kind}-features-${Date.now()}`,
          args: [{ lake: b.uri, dataset: 'news', input: c, params: { ...FEATURES_PARAMS, partitions: { filesPerTask: 1, concurrency: 4 } }, activity }],
        }) as StepResult;
        return [c, f];
      });
      expect(clean.metrics).toEqual(whole.metrics);
      expect(features).toMatchObject({ rows: wholeFeatures.rows, metrics: wholeFeatures.metrics });
      // Compare the rows through local copies of what the manifests list.
      const local = async (tl: TestLake, r: StepResult) => {
        const rel = tl.lake.relative(r.uri);
        const files = (await tl.lake.list(rel)).filter((o) => o.path.endsWith('.parquet'));
        return Promise.all(files.map((o) => tl.lake.stage(o)));
      };
      const same = async (x: string[], y: string[]) => {
        const read = (fs: string[]) => `SELECT * FROM read_parquet([${fs.map((f) => `'${f}'`).join(', ')}], union_by_name = true, hive_partitioning = false)`;
        return (await count(`SELECT count(*) FROM (${read(x)} EXCEPT ALL ${read(y)})`)) + (await count(`SELECT count(*) FROM (${read(y)} EXCEPT ALL ${read(x)})`));
      };
      expect(await same(await local(a, whole), await local(b, clean))).toBe(0);
      expect(await same(await local(a, wholeFeatures), await local(b, features))).toBe(0);
      expect(await acts.clean({ lake: b.uri, dataset: 'news', step: 'clean', runId: 'test', inputs: {}, params: PARTITION_CLEAN_PARAMS as never })).toMatchObject({ cached: true, version: clean.version });
      expect(await b.lake.list('_work')).toEqual([]);
    } finally {
      db.closeSync();
      await a.cleanup();
      await b.cleanup();
    }
  }, 300_000);

  it('takes IQR rules with partitions, refuses stratified splits with them, and leaves the layout out of the version', () => {
    expect(CleanParamsSchema.safeParse({ ...PARTITION_CLEAN_PARAMS, partitions: {} }).success).toBe(true);
    const r = FeaturesParamsSchema.safeParse({ task: 'text-classification', split: { train: 0.8, val: 0.1, test: 0.1, stratify: true }, partitions: {} });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]).toMatchObject({ path: ['split', 'stratify'], message: expect.stringMatching(/not available with partitions/) });
    const parsed = CleanParamsSchema.parse({ ...PARTITION_CLEAN_PARAMS, partitions: { filesPerTask: 3 } });
    expect(parsed.partitions).toEqual({ filesPerTask: 3, buckets: 16, concurrency: 16, tasksPerWorkflow: 200 });
  });
});
