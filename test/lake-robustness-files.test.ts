// Real-world lakes (issue 13): the files real lakes hold. Symbolic links, Hive-style partition directories with
// Spark's escapes, and the hidden work directories of killed attempts. Real DuckDB, a real local lake.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { spawn, spawnSync } from 'node:child_process';
import { workDirName } from '../activities/lake/gc.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { createEtlActivities, type EtlDeps } from '../steps/index.js';
import type { LocalLake } from '../activities/lake/local.js';
import { quoteLiteral } from '../activities/duckdb/sql.js';
import { makeLocalLake, readRows, testDuckDb, writeRaw, failureOf, ID_TEXT_LABEL_PARAMS, type TestLake } from './fixtures/lake-helpers.js';

const PARAMS = ID_TEXT_LABEL_PARAMS;
const rowsSql = (n: number, from = 0) => `SELECT (${from} + range)::VARCHAR AS id, 'text number ' || range AS text, 'a' AS label FROM range(${n})`;

describe('files real lakes hold', () => {
  let tl: TestLake;
  let root: string;
  let duckdb: DuckDBInstance;
  let conn: DuckDBConnection;
  let tmp: string;
  let deps: EtlDeps;
  const clean = (dataset: string, params: unknown = PARAMS) => createEtlActivities(deps).clean({ lake: tl.uri, dataset, step: 'clean', runId: 'test', inputs: {}, params: params as never });

  beforeAll(async () => {
    tl = await makeLocalLake();
    root = (tl.lake as LocalLake).rootDir;
    ({ duckdb, conn, tmp } = await testDuckDb());
    deps = { duckdb, home: tl.home, defaultLake: tl.uri };
  });
  afterAll(async () => {
    conn?.closeSync();
    duckdb?.closeSync();
    await tl?.cleanup();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('refuses a raw file that is a symbolic link out of the lake, naming it; follows one inside the lake', async () => {
    await writeRaw(conn, tl.lake, 'linked', 'part-0.parquet', rowsSql(500));
    const outside = await mkdtemp(join(tmpdir(), 'lakeforge-outside-'));
    try {
      await conn.run(`COPY (${rowsSql(500, 1000)}) TO ${quoteLiteral(join(outside, 'x.parquet'))} (FORMAT parquet)`);
      await symlink(join(outside, 'x.parquet'), join(root, 'raw', 'linked', 'part-1.parquet'));
      const f = await failureOf(clean('linked'));
      expect(f.type).toBe('BadInput');
      expect(f.message).toContain('raw/linked/part-1.parquet is a symbolic link to');
      expect(f.message).toContain('outside the lake');
      // A link to a file inside the lake is read like the file: all 1000 rows arrive.
      await writeRaw(conn, tl.lake, 'elsewhere', 'x.parquet', rowsSql(500, 1000));
      await rm(join(root, 'raw', 'linked', 'part-1.parquet'));
      await symlink(join(root, 'raw', 'elsewhere', 'x.parquet'), join(root, 'raw', 'linked', 'part-1.parquet'));
      const r = await clean('linked');
      expect(r.metrics).toMatchObject({ rows_in: 1000, rows_clean: 1000 });
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('reads Hive-style partition directories with ":" and Spark\'s "%3A" escapes; partition values become columns', async () => {
    const put = async (rel: string, sql: string) => {
      const local = join(tmp, 'part.parquet');
      await conn.run(`COPY (${sql}) TO ${quoteLiteral(local)} (FORMAT parquet)`);
      await tl.lake.putFile(local, rel);
    };
    await put('raw/spark/dt=2024-01-01T00%3A00%3A00/part-00000-c000.snappy.parquet', rowsSql(3));
    await put('raw/spark/dt=2024-01-02T00:00:00/part-00000-c000.snappy.parquet', rowsSql(4, 100));
    const r = await clean('spark', { ...PARAMS, columns: [...PARAMS.columns, { name: 'dt', type: 'VARCHAR' }] });
    expect(r.metrics).toMatchObject({ rows_in: 7, rows_clean: 7 });
    const rows = await readRows(conn, tl.lake, tl.lake.relative(r.uri));
    const dts = [...new Set(rows.map((x) => String(x.dt)))].sort();
    expect(dts).toHaveLength(2);
    expect(dts[1]).toBe('2024-01-02T00:00:00');
    expect(dts[0]).toMatch(/^2024-01-01T00(:|%3A)00(:|%3A)00$/);
    // Names that would escape the lake if decoded are still refused.
    const { confinePath } = await import('../activities/lake/paths.js');
    expect(() => confinePath('raw/x%2f..%2f..%2f..')).toThrow(/escapes/);
    expect(confinePath('raw/spark/dt=2024-01-01T00%3A00%3A00/p.parquet')).toBe('raw/spark/dt=2024-01-01T00%3A00%3A00/p.parquet');
  });

  it('removes a SIGKILLed attempt\'s .tmp- work directory on the next attempt and with `lakeforge lake gc`, never a published version', async () => {
    await writeRaw(conn, tl.lake, 'killed', 'part-0.parquet',
      `SELECT range::VARCHAR AS id, repeat(md5(range::VARCHAR), 4) AS text, 'a' AS label FROM range(400000)`);
    const cleanDir = join(root, 'clean', 'killed');
    const workDirs = async () => (await readdir(cleanDir).catch(() => [] as string[])).filter((e) => e.includes('.tmp-'));
    const killOne = async (params: unknown) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/clean-attempt.ts', tl.uri, tl.home, 'killed', JSON.stringify(params)], { stdio: 'ignore' });
      const exited = new Promise((r) => child.on('exit', r));
      const t0 = Date.now();
      while ((await workDirs()).length === 0 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 10));
      child.kill('SIGKILL');
      await exited;
    };
    await killOne(PARAMS);
    const left = await workDirs();
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^\.[0-9a-f]+\.tmp-\d+@/);
    // A live attempt's work directory (this process) is left alone.
    const live = join(cleanDir, workDirName('v-live'));
    await mkdir(live, { recursive: true });

    // The next attempt removes the killed one's directory, then publishes.
    const r = await clean('killed');
    expect(r.metrics).toMatchObject({ rows_in: 400000 });
    expect(await workDirs()).toEqual([live.split('/').pop()]);
    expect(await readdir(join(root, 'rejects', 'killed'))).not.toContain(expect.stringMatching(/\.tmp-/));

    // Killed again (a different version: other params), then `lakeforge lake gc` cleans up.
    await rm(live, { recursive: true });
    const published = await readdir(join(cleanDir, r.version));
    await killOne({ ...PARAMS, dropExactDuplicates: false });
    expect(await workDirs()).toHaveLength(1);
    const gc = spawnSync(process.execPath, ['cli/bin.js', 'lake', 'gc', '--lake', tl.uri], { encoding: 'utf8', env: { ...process.env, LAKEFORGE_HOME: tl.home } });
    expect(gc.status).toBe(0);
    expect(gc.stdout).toMatch(/removed .*clean\/killed\/\.[0-9a-f]+\.tmp-\d+@.*: its owner process \d+ on .* is gone/);
    expect(gc.stdout).toMatch(/abandoned work entr(y|ies) \([\d.]+ MB\) removed/);
    expect(await workDirs()).toEqual([]);
    expect(await readdir(join(cleanDir, r.version))).toEqual(published);
    const again = await clean('killed');
    expect(again).toMatchObject({ cached: true, version: r.version });
  });
});
