// Real-world lakes (issue 13): files and columns real writers produce, and errors DuckDB raises without a name.
// Real DuckDB, real Parquet, a real local lake; each test fails if its case regresses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { createEtlActivities, type EtlDeps } from '../steps/index.js';
import { cleanManifests } from '../steps/clean/activity.js';
import { CleanParamsSchema } from '../steps/clean/params.js';
import type { LakeStorage } from '../activities/lake/index.js';
import { makeLocalLake, readRows, testDuckDb, writeRaw, writeRawBytes, failureOf, ID_TEXT_LABEL_PARAMS, type TestLake } from './fixtures/lake-helpers.js';

const TEXT_PARAMS = ID_TEXT_LABEL_PARAMS;

describe('real-world lakes', () => {
  let tl: TestLake;
  let lake: LakeStorage;
  let duckdb: DuckDBInstance;
  let conn: DuckDBConnection;
  let tmp: string;
  let deps: EtlDeps;
  const clean = (dataset: string, params: unknown = TEXT_PARAMS, d: EtlDeps = deps) =>
    createEtlActivities(d).clean({ lake: tl.uri, dataset, step: 'clean', runId: 'test', inputs: {}, params: params as never });

  beforeAll(async () => {
    tl = await makeLocalLake();
    lake = tl.lake;
    ({ duckdb, conn, tmp } = await testDuckDb());
    deps = { duckdb, home: tl.home, defaultLake: tl.uri };
  });
  afterAll(async () => {
    conn?.closeSync();
    duckdb?.closeSync();
    await tl?.cleanup();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  describe('errors without a name fail once, with their type', () => {
    const fixture = (name: string) => readFile(join(import.meta.dirname, 'fixtures', 'parquet-testing', name));

    it('ARROW-GH-47662.parquet (DuckDB: "Out of buffer") is BadInput naming the file', async () => {
      await writeRaw(conn, lake, 'oob', 'good.parquet', `SELECT 'x' || range AS flba_field FROM range(10)`);
      await writeRawBytes(lake, 'oob', 'part-bad.parquet', await fixture('ARROW-GH-47662.parquet'));
      const f = await failureOf(clean('oob', { columns: [{ name: 'flba_field', type: 'VARCHAR' }] }));
      expect(f.type).toBe('BadInput');
      expect(f.nonRetryable).toBe(true);
      expect(f.message).toContain('raw/oob/part-bad.parquet');
      expect(f.message).not.toContain('good.parquet');
      expect(f.message).toMatch(/Out of buffer/);
    });

    it('ARROW-RS-GH-6229-DICTHEADER.parquet (DuckDB: "TProtocolException") is BadInput naming the file', async () => {
      await writeRawBytes(lake, 'thrift', 'nation.parquet', await fixture('ARROW-RS-GH-6229-DICTHEADER.parquet'));
      const f = await failureOf(clean('thrift', {
        columns: [{ name: 'nation_key', type: 'INTEGER' }, { name: 'name', type: 'VARCHAR' }, { name: 'region_key', type: 'INTEGER' }, { name: 'comment_col', type: 'VARCHAR', required: false }],
      }));
      expect(f.type).toBe('BadInput');
      expect(f.message).toContain('raw/thrift/nation.parquet');
      expect(f.message).toMatch(/TProtocolException/);
    });

    it('a data page corrupted past an intact footer (generated) is BadInput naming the file', async () => {
      // Flip bytes in the middle of the column data: the footer still parses, the pages do not decode.
      const dir = join(tmp, 'corrupt');
      await conn.run(`COPY (SELECT range AS id, md5(range::VARCHAR) AS text FROM range(20000)) TO '${dir}.parquet' (FORMAT parquet, COMPRESSION snappy)`);
      const bytes = await readFile(`${dir}.parquet`);
      for (let i = 200; i < bytes.length / 2; i += 7) bytes[i] = 0xff;
      await writeRaw(conn, lake, 'pages', 'a.parquet', `SELECT range AS id, 'ok' AS text FROM range(5)`);
      await writeRawBytes(lake, 'pages', 'b.parquet', bytes);
      const f = await failureOf(clean('pages', { columns: [{ name: 'id', type: 'BIGINT' }, { name: 'text', type: 'VARCHAR' }] }));
      expect(f.type).toBe('BadInput');
      expect(f.message).toContain('raw/pages/b.parquet');
    });

    it('out of memory under a small LAKEFORGE_DUCKDB_MEMORY is ResourceExhausted naming the setting', async () => {
      await writeRaw(conn, lake, 'big', 'part-0.parquet',
        `SELECT range::VARCHAR AS id, repeat(md5(range::VARCHAR), 8) AS text, 'a' AS label FROM range(300000)`);
      // No temp directory to spill to: the working set must fit in the limit, and does not.
      const { DuckDBInstance } = await import('@duckdb/node-api');
      const small = await DuckDBInstance.create(':memory:', { memory_limit: '24MB', threads: '1', temp_directory: '' });
      try {
        const f = await failureOf(clean('big', TEXT_PARAMS, { ...deps, duckdb: small }));
        expect(f.type).toBe('ResourceExhausted');
        expect(f.nonRetryable).toBe(true);
        expect(f.message).toContain('LAKEFORGE_DUCKDB_MEMORY');
        expect(f.message).toMatch(/memory limit 2\d(\.\d)? ?MiB/);
      } finally {
        small.closeSync();
      }
    });

    it('the conservation check is a non-retryable internal-invariant failure', async () => {
      const params = CleanParamsSchema.parse(TEXT_PARAMS);
      const f = await failureOf((async () => cleanManifests(lake, {
        dataset: 'inv', params, version: 'v', inputVersion: 'raw-x', cleanRel: 'clean/inv/v', rejectsRel: 'rejects/inv/v',
        outcome: { rowsIn: 10, rowsClean: 9, rowsRejected: 0, reasons: {} },
        cleanFiles: [{ path: 'part-0.parquet', rows: 9, bytes: 1, sha256: '0'.repeat(64) }], rejectFiles: [],
        cleanSchema: [], rejectSchema: [],
      }))());
      expect(f.type).toBe('InvariantViolated');
      expect(f.nonRetryable).toBe(true);
      expect(f.message).toMatch(/conservation violated for inv/);
    });
  });

  describe('columns real writers produce', () => {
    it('reads un-annotated BINARY declared VARCHAR as UTF-8 text and rejects invalid UTF-8 with a reason', async () => {
      await writeRaw(conn, lake, 'bin', 'part-0.parquet', `
        SELECT * FROM (VALUES
          ('1', encode('café naïve 日本'), 'a'),
          ('2', '\\xFF\\xFE bad'::BLOB, 'a'),
          ('3', encode('plain'), 'b')
        ) t(id, text, label)`);
      const [desc] = (await (await conn.runAndReadAll(`SELECT column_type FROM (DESCRIBE SELECT * FROM read_parquet('${fileURLToPath(lake.uri('raw/bin/part-0.parquet'))}')) WHERE column_name = 'text'`)).getRowObjectsJson());
      expect(desc.column_type).toBe('BLOB');
      const r = await clean('bin');
      const rows = await readRows(conn, lake, lake.relative(r.uri), { orderBy: 'id' });
      expect(rows.map((x) => x.text)).toEqual(['café naïve 日本', 'plain']);
      const rejects = await readRows(conn, lake, `rejects/bin/${r.version}`);
      expect(rejects).toHaveLength(1);
      expect(rejects[0]).toMatchObject({ id: '2', reject_reason: 'invalid_utf8:text' });
      expect(r.metrics).toMatchObject({ 'rejected.invalid_utf8:text': 1 });
    });

    it('refuses raw columns named like internal columns (reject_reason, __rid) by name', async () => {
      await writeRaw(conn, lake, 'rr', 'part-0.parquet', `SELECT range::VARCHAR AS id, 'some text' AS text, 'zz' AS label, 'mine' AS reject_reason FROM range(5)`);
      const f = await failureOf(clean('rr'));
      expect(f.type).toBe('SchemaMismatch');
      expect(f.message).toMatch(/raw column "reject_reason" in .*raw\/rr\/part-0\.parquet collides/);
      await writeRaw(conn, lake, 'rid', 'part-0.parquet', `SELECT range::VARCHAR AS id, 'some text' AS text, 'a' AS label, 7 AS __rid FROM range(5)`);
      const g = await failureOf(clean('rid'));
      expect(g.type).toBe('SchemaMismatch');
      expect(g.nonRetryable).toBe(true);
      expect(g.message).toMatch(/raw column "__rid" in .*raw\/rid\/part-0\.parquet collides/);
      const h = await failureOf(clean('rid', { ...TEXT_PARAMS, columns: [...TEXT_PARAMS.columns, { name: '__reason', type: 'VARCHAR', required: false }] }));
      expect(h.type).toBe('InvalidPipeline');
      expect(h.message).toMatch(/params\.columns\.3\.name: column names starting with "__" and "reject_reason" are reserved/);
    });

    it('reads raw columns named like reader options (file_row_number, filename) and keeps them in the rejects', async () => {
      await writeRaw(conn, lake, 'opts', 'part-0.parquet', `
        SELECT range::VARCHAR AS id, 'text number ' || range AS text, CASE WHEN range = 3 THEN 'zz' ELSE 'a' END AS label,
          'raw-frn-' || range AS file_row_number, 'raw-fn-' || range AS filename, range AS file_index
        FROM range(6)`);
      await writeRaw(conn, lake, 'opts', 'part-1.parquet', `SELECT (10 + range)::VARCHAR AS id, 'more ' || range AS text, 'b' AS label FROM range(4)`);
      const r = await clean('opts');
      expect(r.metrics).toMatchObject({ rows_in: 10, rows_clean: 9, rows_rejected: 1 });
      const rows = await readRows(conn, lake, lake.relative(r.uri));
      // Input order is kept (file by file, row by row).
      expect(rows.map((x) => x.id)).toEqual(['0', '1', '2', '4', '5', '10', '11', '12', '13']);
      const [rej] = await readRows(conn, lake, `rejects/opts/${r.version}`);
      expect(rej).toMatchObject({ id: '3', file_row_number: 'raw-frn-3', filename: 'raw-fn-3', file_index: '3', reject_reason: 'label_not_in_set:label' });
      // Declared, it is an ordinary column.
      const d = await clean('opts', { ...TEXT_PARAMS, columns: [...TEXT_PARAMS.columns, { name: 'file_row_number', type: 'VARCHAR', required: false }] });
      const drows = await readRows(conn, lake, lake.relative(d.uri));
      expect(drows.slice(0, 2).map((x) => x.file_row_number)).toEqual(['raw-frn-0', 'raw-frn-1']);
      expect(drows[5].file_row_number).toBeNull();
    });
  });

  describe('empty results', () => {
    it('fails the clean step with BadInput when every row is rejected, unless allowEmpty', async () => {
      await writeRaw(conn, lake, 'allrej', 'part-0.parquet', `SELECT range::VARCHAR AS id, 'text ' || range AS text, 'zz' AS label FROM range(500)`);
      const f = await failureOf(clean('allrej'));
      expect(f.type).toBe('BadInput');
      expect(f.message).toContain('all 500 rows rejected: 500 label_not_in_set:label');
      expect(await lake.list('clean/allrej')).toEqual([]);
      const ok = await clean('allrej', { ...TEXT_PARAMS, allowEmpty: true });
      expect(ok.rows).toBe(0);
      expect(ok.metrics).toMatchObject({ rows_in: 500, rows_rejected: 500 });
    });
  });
});
