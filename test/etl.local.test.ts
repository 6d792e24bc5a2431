import { describe, expect, it } from 'vitest';
import { defineEtlSuite } from './fixtures/etl-suite.js';
import { makeLocalLake, testDuckDb } from './fixtures/lake-helpers.js';
import { runStatement } from '../activities/duckdb/run.js';

defineEtlSuite('local (file://)', makeLocalLake);

describe('DuckDB statements in activities', () => {
  it('heartbeats while a statement runs and interrupts it on cancellation', async () => {
    const { duckdb, conn } = await testDuckDb();
    const beats: unknown[] = [];
    const ac = new AbortController();
    const reason = new Error('activity cancelled');
    setTimeout(() => ac.abort(reason), 300);
    const started = Date.now();
    // Far too long to finish on its own: a cross join of 10^12 rows.
    const p = runStatement(conn, { heartbeat: (d) => beats.push(d), signal: ac.signal }, 'long', 'SELECT count(*) FROM range(1000000) a, range(1000000) b WHERE a.range + b.range = -1');
    await expect(p).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(beats[0]).toMatchObject({ stage: 'long' });
    // The connection stays usable after the interrupt.
    expect((await (await conn.runAndReadAll('SELECT 42 AS x')).getRowObjectsJson())[0].x).toBe(42);
    conn.closeSync();
    duckdb.closeSync();
  });
});
