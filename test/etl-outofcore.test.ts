import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { createEtlActivities } from '../steps/index.js';
import { generateTextClassification, TEXT_CLEAN_PARAMS, TEXT_FEATURES_PARAMS } from '../examples/generate-lib.js';
import { makeLocalLake, testDuckDb, type TestLake } from './fixtures/lake-helpers.js';

// Cleaning and featurizing a dataset several times larger than DuckDB's memory_limit: the materialised tables,
// aggregates, joins and sorts spill to temp_directory. 1.2M rows hold ~165 MB of text alone (~300 MB as DuckDB
// holds the typed rows) against a 100 MB limit.
const ROWS = 1_200_000;

describe('out-of-core: clean + features with memory_limit = 100MB', () => {
  let tl: TestLake;
  let duckdb: DuckDBInstance;
  let conn: DuckDBConnection;
  let tmp: string;
  beforeAll(async () => {
    tl = await makeLocalLake();
    // Generated with a roomy instance; the constrained one below does the ETL.
    const gen = await testDuckDb('2GB');
    await generateTextClassification({ lake: tl.lake, dataset: 'big', rows: ROWS, files: 4, conn: gen.conn });
    gen.conn.closeSync();
    gen.duckdb.closeSync();
    await rm(gen.tmp, { recursive: true, force: true });
    // One thread: per-thread scan and writer buffers are what a tight limit cannot hold twice.
    ({ duckdb, conn, tmp } = await testDuckDb('100MB', 1));
  }, 300_000);
  afterAll(async () => {
    conn?.closeSync();
    duckdb?.closeSync();
    await tl?.cleanup();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('completes, conserving rows, with the data several times the memory limit', async () => {
    const [limit] = (await (await conn.runAndReadAll("SELECT current_setting('memory_limit') AS m")).getRowObjectsJson()) as { m: string }[];
    expect(limit.m).toMatch(/^9\d\.\d MiB$|^100\.0 MB$/);
    const files = (await tl.lake.list('raw/big')).map((o) => new URL(tl.lake.uri(o.path)).pathname);
    const [size] = (await (await conn.runAndReadAll(`SELECT sum(length(text)) AS text_bytes FROM read_parquet(['${files.join("','")}'])`)).getRowObjectsJson()) as { text_bytes: string }[];
    expect(Number(size.text_bytes)).toBeGreaterThan(150_000_000);

    const stages: string[] = [];
    const acts = createEtlActivities({ duckdb, home: tl.home, control: () => ({ heartbeat: (d) => { const s = (d as { stage?: string })?.stage; if (s && stages[stages.length - 1] !== s) { stages.push(s); process.stderr.write(`[out-of-core] ${new Date().toISOString()} ${s}\n`); } }, signal: undefined }) });
    const c = await acts.clean({ lake: tl.uri, dataset: 'big', step: 'clean', runId: 'test', inputs: {}, params: TEXT_CLEAN_PARAMS as never });
    expect(c.metrics).toMatchObject({ rows_in: ROWS });
    expect(c.metrics!.rows_clean + c.metrics!.rows_rejected).toBe(ROWS);
    const f = await acts.features({ lake: tl.uri, dataset: 'big', step: 'features', runId: 'test', inputs: { input: c }, params: TEXT_FEATURES_PARAMS as never });
    expect(f.rows).toBe(c.rows);
    expect(f.metrics!.rows_train + f.metrics!.rows_val + f.metrics!.rows_test).toBe(c.rows);
  }, 600_000);
});
