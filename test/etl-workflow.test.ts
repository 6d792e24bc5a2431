import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { connectTestServer, uniqueTaskQueue } from './helpers/temporal.js';
import { createEtlActivities } from '../steps/index.js';
import { readManifest } from '../activities/lake/index.js';
import { generateTextClassification, TEXT_CLEAN_PARAMS, TEXT_FEATURES_PARAMS } from '../examples/generate-lib.js';
import { makeLocalLake, testDuckDb, writeRaw, type TestLake } from './fixtures/lake-helpers.js';

describe('clean → features as activities in a workflow on the real dev server', () => {
  let server: Awaited<ReturnType<typeof connectTestServer>>;
  let tl: TestLake;
  let duckdb: DuckDBInstance;
  let conn: DuckDBConnection;
  let tmp: string;

  beforeAll(async () => {
    server = await connectTestServer();
    tl = await makeLocalLake();
    ({ duckdb, conn, tmp } = await testDuckDb());
    await generateTextClassification({ lake: tl.lake, dataset: 'news', rows: 2000, conn });
    await writeRaw(conn, tl.lake, 'broken', 'part-0.parquet', `SELECT 'a' AS id, 'no label column here' AS text`);
  });
  afterAll(async () => {
    conn?.closeSync();
    duckdb?.closeSync();
    await server?.close();
    await tl?.cleanup();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  async function withWorker<T>(fn: (taskQueue: string) => Promise<T>): Promise<T> {
    const taskQueue = uniqueTaskQueue('etl');
    const worker = await Worker.create({
      connection: server.nativeConnection,
      taskQueue,
      workflowsPath: fileURLToPath(new URL('./fixtures/etl-workflow.ts', import.meta.url)),
      activities: createEtlActivities({ duckdb, home: tl.home, defaultLake: tl.uri }),
    });
    return worker.runUntil(fn(taskQueue));
  }

  it('publishes clean and features, and the second run is all cache hits', async () => {
    const args = { lake: tl.uri, dataset: 'news', clean: TEXT_CLEAN_PARAMS as never, features: TEXT_FEATURES_PARAMS as never };
    const first = await withWorker((taskQueue) =>
      server.client.workflow.execute('etlTestWorkflow', { taskQueue, workflowId: `etl-test-${Date.now()}`, args: [args] }),
    );
    expect(first.clean).toMatchObject({ step: 'clean', cached: false });
    expect(first.features).toMatchObject({ step: 'features', cached: false, rows: first.clean.rows });
    const m = await readManifest(tl.lake, tl.lake.relative(first.features.uri));
    expect(m?.inputs).toEqual([first.clean.version]);
    const second = await withWorker((taskQueue) =>
      server.client.workflow.execute('etlTestWorkflow', { taskQueue, workflowId: `etl-test-again-${Date.now()}`, args: [args] }),
    );
    expect(second.clean).toMatchObject({ version: first.clean.version, cached: true });
    expect(second.features).toMatchObject({ version: first.features.version, cached: true });
  });

  it('fails the workflow with a non-retried SchemaMismatch naming the column', async () => {
    const args = { lake: tl.uri, dataset: 'broken', clean: TEXT_CLEAN_PARAMS as never, features: TEXT_FEATURES_PARAMS as never };
    const err = await withWorker((taskQueue) =>
      server.client.workflow.execute('etlTestWorkflow', { taskQueue, workflowId: `etl-test-broken-${Date.now()}`, args: [args] }).then(
        () => null,
        (e: unknown) => e,
      ),
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const activityFailure = (err as WorkflowFailedError).cause as ActivityFailure;
    expect(activityFailure).toBeInstanceOf(ActivityFailure);
    const cause = activityFailure.cause as ApplicationFailure;
    expect(cause.type).toBe('SchemaMismatch');
    expect(cause.message).toContain('"label"');
  });
});
