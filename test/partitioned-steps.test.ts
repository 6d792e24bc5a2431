// Partitioned cleaning on the real dev server with two ETL workers: the same rows, rejects and version as the
// single-activity clean; a partition that fails is retried alone; work is spread over both workers; a re-run is a
// cache hit; the recorded history replays.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { connectTestServer, uniqueTaskQueue, workflowBundle } from './helpers/temporal.js';
import { CleanParamsSchema, createEtlActivities } from '../activities/etl/index.js';
import type { StepResult } from '../activities/common/step-result.js';
import { generateTextClassification, TEXT_CLEAN_PARAMS } from '../examples/generate-lib.js';
import { makeLocalLake, testDuckDb, type TestLake } from './fixtures/lake-helpers.js';
import { waitFor } from './fixtures/training-helpers.js';
import { REPO_ROOT } from '../activities/common/config.js';

const FILES = 60;
const ROWS = 24_000;
const PARTITIONS = { filesPerTask: 4, buckets: 8, concurrency: 6 };

describe('partitioned clean (child workflow, map/reduce over ETL workers)', () => {
  let server: Awaited<ReturnType<typeof connectTestServer>>;
  let single: TestLake;
  let parted: TestLake;
  let duckdb: DuckDBInstance;
  let conn: DuckDBConnection;
  let tmp: string;

  beforeAll(async () => {
    server = await connectTestServer();
    [single, parted] = [await makeLocalLake(), await makeLocalLake()];
    ({ duckdb, conn, tmp } = await testDuckDb());
    // The same raw data (deterministic from the seed) in two lakes: one cleaned whole, one partitioned.
    for (const tl of [single, parted]) await generateTextClassification({ lake: tl.lake, dataset: 'news', rows: ROWS, files: FILES, seed: 5, conn });
  }, 120_000);
  afterAll(async () => {
    conn?.closeSync();
    duckdb?.closeSync();
    await server?.close();
    for (const tl of [single, parted]) await tl?.cleanup();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const count = async (sql: string) => Number((await conn.runAndReadAll(sql)).getRows()[0][0]);
  const files = (r: StepResult) => `${fileURLToPath(r.uri)}/*.parquet`;

  it('gives the single-activity result exactly, retries a failed partition alone, spreads over both workers, then hits the cache', async () => {
    const params = { ...TEXT_CLEAN_PARAMS, partitions: PARTITIONS };
    const whole = await createEtlActivities({ duckdb, home: single.home }).clean({ lake: single.uri, dataset: 'news', params: TEXT_CLEAN_PARAMS as never });

    const taskQueue = uniqueTaskQueue('etl-parted');
    // Worker A in this process (it also runs the workflow): the first partition it gets fails once.
    let failedBatch: number | undefined;
    const { duckdb: db } = await testDuckDb('1GB', 1);
    const acts = createEtlActivities({ duckdb: db, home: parted.home });
    const workerA = await Worker.create({
      connection: server.nativeConnection, taskQueue, identity: 'etl-worker-a', ...workflowBundle(),
      activities: {
        ...acts,
        async shuffleCleanBatch(input: Parameters<typeof acts.shuffleCleanBatch>[0]) {
          if (failedBatch === undefined && Context.current().info.attempt === 1) {
            failedBatch = input.batch;
            throw ApplicationFailure.retryable('injected failure of one partition', 'Injected');
          }
          return acts.shuffleCleanBatch(input);
        },
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
    await waitFor('worker B to poll', () => {
      if (workerB.exitCode !== null) throw new Error(`ETL worker exited ${workerB.exitCode}:\n${logB}`);
      return logB.includes('ETL worker polling') || undefined;
    }, 120_000, 100);
    const run = (id: string) => server.client.workflow.execute('partitionedCleanWorkflow', {
      taskQueue, workflowId: id,
      args: [{ lake: parted.uri, dataset: 'news', params, activity: { taskQueue, startToCloseTimeout: '5m', retry: { initialInterval: '200ms', maximumAttempts: 3 } } }],
    }) as Promise<StepResult>;
    const workflowId = `parted-clean-${Date.now()}`;
    try {
      const [result, again] = await workerA.runUntil(async () => {
        const first = await run(workflowId);
        return [first, await run(`${workflowId}-again`)];
      });

      // The same counts and reasons; and one version for the step whatever the layout.
      expect(result).toMatchObject({ step: 'clean', cached: false, rows: whole.rows });
      // (Versions hash the raw objects' generations, which differ between the two lakes: compare within one.)
      const unpartitioned = await acts.clean({ lake: parted.uri, dataset: 'news', params: TEXT_CLEAN_PARAMS as never });
      expect(unpartitioned).toMatchObject({ cached: true, version: result.version });
      expect(result.metrics).toEqual(whole.metrics);
      expect(result.metrics!.rows_in).toBe(ROWS);
      expect(result.metrics!['rejected.duplicate_key']).toBeGreaterThan(0);
      // The same rows, as multisets, in clean and in rejects (raw values and reasons).
      for (const [x, y] of [[files(whole), files(result)], [files(result), files(whole)]]) {
        expect(await count(`SELECT count(*) FROM (SELECT * FROM read_parquet('${x}') EXCEPT ALL SELECT * FROM read_parquet('${y}'))`)).toBe(0);
      }
      const rejects = (r: StepResult) => files(r).replace('/clean/', '/rejects/');
      for (const [x, y] of [[rejects(whole), rejects(result)], [rejects(result), rejects(whole)]]) {
        expect(await count(`SELECT count(*) FROM (SELECT * FROM read_parquet('${x}', union_by_name = true) EXCEPT ALL SELECT * FROM read_parquet('${y}', union_by_name = true))`)).toBe(0);
      }
      expect(await count(`SELECT count(*) - count(DISTINCT id) FROM read_parquet('${files(result)}')`)).toBe(0);
      expect(await parted.lake.list('_work')).toEqual([]);
      expect(again).toMatchObject({ cached: true, version: result.version });

      // History: the failed partition alone ran twice; both workers took partitions.
      const events = (await server.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
      const scheduled = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [Number(e.eventId), e.activityTaskScheduledEventAttributes!]));
      const started = events.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!);
      const retried = started.filter((s) => (s.attempt ?? 1) > 1).map((s) => scheduled.get(Number(s.scheduledEventId))!);
      expect(failedBatch).toBeDefined();
      expect(retried).toHaveLength(1);
      expect(retried[0].activityType?.name).toBe('shuffleCleanBatch');
      const retriedInput = JSON.parse(Buffer.from(retried[0].input!.payloads![0].data!).toString('utf8'));
      expect(retriedInput.batch).toBe(failedBatch);
      const byType = (t: string) => started.filter((s) => scheduled.get(Number(s.scheduledEventId))?.activityType?.name === t);
      expect(byType('shuffleCleanBatch')).toHaveLength(Math.ceil(FILES / PARTITIONS.filesPerTask));
      expect(byType('cleanBucket')).toHaveLength(PARTITIONS.buckets);
      const identities = new Set(started.map((s) => s.identity));
      expect(identities.has('etl-worker-a')).toBe(true);
      expect(identities.size).toBe(2);

      // The recorded history replays against the current workflow code.
      await Worker.runReplayHistory(workflowBundle(), await server.client.workflow.getHandle(workflowId).fetchHistory());
    } finally {
      try { process.kill(-workerB.pid!, 'SIGKILL'); } catch { /* gone */ }
      db.closeSync();
    }
  }, 600_000);

  it('rejects IQR outliers with partitions, naming the field', () => {
    const r = CleanParamsSchema.safeParse({ ...TEXT_CLEAN_PARAMS, outliers: [{ method: 'iqr', column: 'rating' }], partitions: {} });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]).toMatchObject({ path: ['outliers', 0, 'method'], message: expect.stringMatching(/IQR .* not available with partitions/) });
  });
});
