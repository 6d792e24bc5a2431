// `uses: sql`: the custom SQL step. The activity against a real local lake and real DuckDB (rows, bound parameters,
// cache hits, failures that publish nothing), features over its output, and a clean → sql → features pipeline
// through real workers on the run's dev server.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError } from '@temporalio/client';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { createEtlActivities, type EtlDeps } from '../steps/index.js';
import { readManifest, type Manifest } from '../activities/lake/index.js';
import type { StepResult } from '../contracts/step-result.js';
import { quoteLiteral } from '../activities/duckdb/sql.js';
import { generateTextClassification, TEXT_CLEAN_PARAMS, TEXT_FEATURES_PARAMS, TEXT_LABELS } from '../examples/generate-lib.js';
import { getProgress, startPipeline } from '../sdk/pipelines.js';
import { makeGcsLake, makeLocalLake, makeS3Lake, readRows, testDuckDb, failureOf, type TestLake } from './fixtures/lake-helpers.js';
import { createPipelineTestEnv, smallNewsSpec, type PipelineTestEnv } from './fixtures/pipeline-env.js';


const WORDS = (col = 'text') => `len(string_split_regex(trim(${col}), '\\s+'))`;

/** Custom SQL files for these tests, in a sql/ directory of their own (EtlDeps.sqlRoot). */
const SQL_FILES: Record<string, string> = {
  'min_words.sql': `-- rows with at least $min_words words
SELECT * FROM input WHERE ${WORDS()} >= $min_words; -- a trailing comment after the semicolon`,
  'labels.sql': 'SELECT id, text, label, $tag AS tag FROM input WHERE list_contains($labels, label) AND label <> $evil',
  'no_label.sql': 'SELECT id, text FROM input',
  'syntax.sql': 'SELEC id FROM input',
  'unknown_column.sql': 'SELECT no_such_column FROM input',
  'two.sql': 'SELECT * FROM input; SELECT 1',
  'create.sql': 'CREATE TABLE stolen AS SELECT * FROM input',
  'explain.sql': 'EXPLAIN SELECT * FROM input',
  'empty.sql': '-- nothing but a comment\n',
  'no_columns.sql': 'SELECT * EXCLUDE (id, text, label, rating, updated_at, source) FROM input',
  'dup_columns.sql': 'SELECT id, id FROM input',
  'no_rows.sql': 'SELECT * FROM input WHERE false',
  'bad_cast.sql': "SELECT CAST(text AS INTEGER) AS n FROM input",
  'by_split.sql': 'SELECT split, count(*) AS n FROM input GROUP BY split ORDER BY split',
  'per_label.sql': 'SELECT label, count(*) AS n FROM input GROUP BY label ORDER BY label',
};

let tl: TestLake;
let duckdb: DuckDBInstance;
let conn: DuckDBConnection;
let sqlRoot: string;
let deps: EtlDeps;
let acts: ReturnType<typeof createEtlActivities>;
let clean: StepResult;
let cleanRows: Record<string, unknown>[];

beforeAll(async () => {
  tl = await makeLocalLake();
  ({ duckdb, conn } = await testDuckDb());
  sqlRoot = mkdtempSync(join(tmpdir(), 'lakeforge-sqlroot-'));
  mkdirSync(join(sqlRoot, 'sql', 'custom'), { recursive: true });
  for (const [name, text] of Object.entries(SQL_FILES)) writeFileSync(join(sqlRoot, 'sql', 'custom', name), text);
  deps = { duckdb, home: tl.home, defaultLake: tl.uri, sqlRoot };
  acts = createEtlActivities(deps);
  await generateTextClassification({ lake: tl.lake, dataset: 'news', rows: 800, seed: 11 });
  clean = await acts.clean({ lake: tl.uri, dataset: 'news', step: 'clean', runId: 'test', inputs: {}, params: TEXT_CLEAN_PARAMS as never });
  cleanRows = await readRows(conn, tl.lake, tl.lake.relative(clean.uri));
});

afterAll(async () => {
  conn?.closeSync();
  duckdb?.closeSync();
  await tl?.cleanup();
  if (sqlRoot) rmSync(sqlRoot, { recursive: true, force: true });
});

const sqlInput = (file: string, params: Record<string, unknown> = {}, output = 'custom', input: StepResult = clean) =>
  ({ lake: tl.uri, dataset: 'news', step: 'sql', runId: 'test', inputs: { input }, params: { file: `sql/custom/${file}`, params, output } }) as never;

async function manifestOf(r: StepResult): Promise<Manifest> {
  return (await readManifest(tl.lake, tl.lake.relative(r.uri)))!;
}

/** No published directory under <output>/news, and no work directory left behind. */
function expectNothingPublished(output: string) {
  const dir = join(fileURLToPath(tl.uri), output, 'news');
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  expect(entries).toEqual([]);
}

describe('the sql activity', () => {
  it('runs the query over the upstream output as `input` and publishes zstd Parquet, manifest last', async () => {
    const r = await acts.sql(sqlInput('min_words.sql', { min_words: 9 }, 'long-texts'));
    const expected = cleanRows.filter((row) => String(row.text).trim().split(/\s+/).length >= 9);
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(cleanRows.length);
    expect(r).toMatchObject({ step: 'sql', cached: false, rows: expected.length });
    const rel = tl.lake.relative(r.uri);
    expect(rel).toBe(`long-texts/news/${r.version}`);
    expect(r.manifest).toBe(`${r.uri}/_manifest.json`);

    const rows = await readRows(conn, tl.lake, rel, { orderBy: 'id' });
    expect(rows.map((x) => x.id)).toEqual(expected.map((x) => x.id).sort());
    expect(Object.keys(rows[0]).sort()).toEqual(Object.keys(cleanRows[0]).sort());

    const m = await manifestOf(r);
    expect(m).toMatchObject({
      step: 'sql',
      version: r.version,
      inputs: [clean.version],
      params: { file: 'sql/custom/min_words.sql', params: { min_words: 9 }, output: 'long-texts' },
      rows: expected.length,
      sqlFile: 'sql/custom/min_words.sql',
      // The clean step's key and label set travel on: its columns are all still there.
      cleanDefaults: { key: ['id'], labels: { column: 'label', values: TEXT_LABELS } },
      metrics: { rows_in: cleanRows.length, rows_out: expected.length, rows_removed: cleanRows.length - expected.length },
    });
    expect(m.files.map((f) => f.path)).toEqual(['part-0.parquet']);
    const local = join(fileURLToPath(r.uri), 'part-0.parquet');
    const codecs = (await (await conn.runAndReadAll(`SELECT DISTINCT compression FROM parquet_metadata(${quoteLiteral(local)})`)).getRowObjectsJson()).map((x) => x.compression);
    expect(codecs).toEqual(['ZSTD']);
  });

  it('binds parameters (scalars and lists) instead of splicing them into the SQL', async () => {
    const evil = "x' OR label <> 'sports";
    const r = await acts.sql(sqlInput('labels.sql', { labels: ['sports', 'world'], evil, tag: "it's" }, 'labels'));
    const rows = await readRows(conn, tl.lake, tl.lake.relative(r.uri));
    const expected = cleanRows.filter((x) => x.label === 'sports' || x.label === 'world');
    expect(rows.length).toBe(expected.length);
    // Spliced in, the quote would have closed the literal; bound, it is just a value no label equals.
    expect(new Set(rows.map((x) => x.label))).toEqual(new Set(['sports', 'world']));
    expect(new Set(rows.map((x) => x.tag))).toEqual(new Set(["it's"]));
    // id and label survive the query: the clean step's key and label set travel on.
    expect((await manifestOf(r)).cleanDefaults).toEqual({ key: ['id'], labels: { column: 'label', values: TEXT_LABELS } });

    // Another value is another version.
    const other = await acts.sql(sqlInput('labels.sql', { labels: ['sports'], evil, tag: "it's" }, 'labels'));
    expect(other.version).not.toBe(r.version);
    expect(other.rows).toBe(cleanRows.filter((x) => x.label === 'sports').length);
  });

  it('re-runs as a cache hit, and recomputes when a published file went missing', async () => {
    const first = await acts.sql(sqlInput('min_words.sql', { min_words: 7 }, 'cache'));
    const file = join(fileURLToPath(first.uri), 'part-0.parquet');
    const mtime = statSync(file).mtimeMs;
    const again = await acts.sql(sqlInput('min_words.sql', { min_words: 7 }, 'cache'));
    expect(again).toEqual({ ...first, cached: true });
    expect(statSync(file).mtimeMs).toBe(mtime);

    rmSync(file);
    const rebuilt = await acts.sql(sqlInput('min_words.sql', { min_words: 7 }, 'cache'));
    expect(rebuilt).toMatchObject({ version: first.version, cached: false, rows: first.rows });
    expect(statSync(file).size).toBeGreaterThan(0);
  });

  it('the version covers the SQL text: an edited file is a new version', async () => {
    const path = join(sqlRoot, 'sql', 'custom', 'edited.sql');
    writeFileSync(path, 'SELECT * FROM input WHERE rating >= $r');
    const a = await acts.sql(sqlInput('edited.sql', { r: 2 }, 'edited'));
    writeFileSync(path, 'SELECT * FROM input WHERE rating >= $r -- same rows, other text');
    const b = await acts.sql(sqlInput('edited.sql', { r: 2 }, 'edited'));
    expect(b.version).not.toBe(a.version);
    expect(b.cached).toBe(false);
    expect(b.rows).toBe(a.rows);
  });

  it.each([
    ['syntax.sql', /sql\/custom\/syntax\.sql.*Parser Error/],
    ['unknown_column.sql', /sql\/custom\/unknown_column\.sql.*no_such_column/],
    ['two.sql', /sql\/custom\/two\.sql must hold a single SELECT statement, it has 2/],
    ['create.sql', /sql\/custom\/create\.sql must be a SELECT.*CREATE/],
    ['explain.sql', /sql\/custom\/explain\.sql must be a SELECT.*EXPLAIN/],
    ['empty.sql', /sql\/custom\/empty\.sql holds no statement/],
    ['no_columns.sql', /sql\/custom\/no_columns\.sql/],
    ['dup_columns.sql', /sql\/custom\/dup_columns\.sql selects column "id" more than once/],
    ['no_rows.sql', /sql\/custom\/no_rows\.sql returned no rows/],
    ['bad_cast.sql', /sql\/custom\/bad_cast\.sql.*Conversion Error/],
  ])('%s fails with a non-retryable BadInput naming the file, and publishes nothing', async (file, message) => {
    const output = `bad-${file.replace(/[._]/g, '-')}`;
    const f = await failureOf(acts.sql(sqlInput(file, {}, output)));
    expect(f.type).toBe('BadInput');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(message);
    expectNothingPublished(output);
    // The connection's view and table are gone: the next query on the worker is unaffected.
    const ok = await acts.sql(sqlInput('min_words.sql', { min_words: 3 }, 'after-failure'));
    expect(ok.rows).toBeGreaterThan(0);
  });

  it('a missing file, a missing or an unused parameter are InvalidPipeline naming the field', async () => {
    const missing = await failureOf(acts.sql(sqlInput('nope.sql')));
    expect(missing).toMatchObject({ type: 'InvalidPipeline', nonRetryable: true });
    expect(missing.message).toMatch(/with\.file: SQL file "sql\/custom\/nope\.sql" does not exist/);

    const unset = await failureOf(acts.sql(sqlInput('min_words.sql', {}, 'unset')));
    expect(unset.type).toBe('InvalidPipeline');
    expect(unset.message).toMatch(/with\.params: sql\/custom\/min_words\.sql uses \$min_words, which with\.params does not set/);
    expectNothingPublished('unset');

    const unused = await failureOf(acts.sql(sqlInput('min_words.sql', { min_words: 3, min_word: 3 }, 'unused')));
    expect(unused.type).toBe('InvalidPipeline');
    expect(unused.message).toMatch(/with\.params: "min_word" is not used by sql\/custom\/min_words\.sql \(it uses: \$min_words\)/);

    const outside = await failureOf(acts.sql({ lake: tl.uri, dataset: 'news', step: 'sql', runId: 'test', inputs: { input: clean }, params: { file: '../etc/passwd.sql', output: 'x' } } as never));
    expect(outside.type).toBe('InvalidPipeline');
    expect(outside.message).toMatch(/params\.file: "\.\.\/etc\/passwd\.sql" is outside sql\//);
  });

  it('chains: a sql step over a sql step, and over features (its split directories become a column)', async () => {
    const first = await acts.sql(sqlInput('min_words.sql', { min_words: 5 }, 'chain-a'));
    const second = await acts.sql(sqlInput('per_label.sql', {}, 'chain-b', first));
    const firstRows = await readRows(conn, tl.lake, tl.lake.relative(first.uri));
    const perLabel = await readRows(conn, tl.lake, tl.lake.relative(second.uri), { orderBy: 'label' });
    expect(perLabel.map((x) => [x.label, Number(x.n)])).toEqual(
      [...new Set(firstRows.map((x) => String(x.label)))].sort().map((l) => [l, firstRows.filter((x) => x.label === l).length]),
    );
    expect((await manifestOf(second)).inputs).toEqual([first.version]);
    // per_label.sql keeps the label but not the key column.
    expect((await manifestOf(second)).cleanDefaults).toEqual({ labels: { column: 'label', values: TEXT_LABELS } });

    const features = await acts.features({ lake: tl.uri, dataset: 'news', step: 'features', runId: 'test', inputs: { input: clean }, params: TEXT_FEATURES_PARAMS as never });
    const bySplit = await acts.sql(sqlInput('by_split.sql', {}, 'by-split', features));
    const counts = await readRows(conn, tl.lake, tl.lake.relative(bySplit.uri), { orderBy: 'split' });
    const fm = (await manifestOf(features)) as Manifest & { splits: Record<string, number> };
    expect(counts.map((x) => [x.split, Number(x.n)])).toEqual([['test', fm.splits.test], ['train', fm.splits.train], ['val', fm.splits.val]]);
  });
});

describe.each([
  ['gs:// lake (emulator)', () => makeGcsLake(inject('gcsEmulatorHost'))],
  ['s3:// lake (versitygw)', () => makeS3Lake(inject('s3Server'))],
] as const)('the sql activity on a %s', (_label, make) => {
  it('stages the input, publishes to the object store, reads split directories as a column, and hits the cache', async () => {
    const gl = await make();
    try {
      const gdeps: EtlDeps = { duckdb, home: gl.home, defaultLake: gl.uri, lakeOptions: gl.lakeOptions, sqlRoot };
      const g = createEtlActivities(gdeps);
      await generateTextClassification({ lake: gl.lake, dataset: 'news', rows: 300, seed: 5 });
      const gclean = await g.clean({ lake: gl.uri, dataset: 'news', step: 'clean', runId: 'test', inputs: {}, params: TEXT_CLEAN_PARAMS as never });
      const input = (file: string, params: Record<string, unknown>, output: string, from: StepResult) =>
        ({ lake: gl.uri, dataset: 'news', step: 'sql', runId: 'test', inputs: { input: from }, params: { file: `sql/custom/${file}`, params, output } }) as never;
      const r = await g.sql(input('min_words.sql', { min_words: 6 }, 'long-texts', gclean));
      expect(r.uri).toBe(`${gl.uri}/long-texts/news/${r.version}`);
      const rows = await readRows(conn, gl.lake, gl.lake.relative(r.uri));
      expect(rows.length).toBe(r.rows);
      expect(rows.every((x) => String(x.text).trim().split(/\s+/).length >= 6)).toBe(true);
      expect(await g.sql(input('min_words.sql', { min_words: 6 }, 'long-texts', gclean))).toEqual({ ...r, cached: true });

      const features = await g.features({ lake: gl.uri, dataset: 'news', step: 'features', runId: 'test', inputs: { input: r }, params: TEXT_FEATURES_PARAMS as never });
      const bySplit = await g.sql(input('by_split.sql', {}, 'by-split', features));
      const counts = await readRows(conn, gl.lake, gl.lake.relative(bySplit.uri), { orderBy: 'split' });
      const fm = (await readManifest(gl.lake, gl.lake.relative(features.uri))) as Manifest & { splits: Record<string, number> };
      expect(counts.map((x) => [x.split, Number(x.n)])).toEqual([['test', fm.splits.test], ['train', fm.splits.train], ['val', fm.splits.val]]);

      const f = await failureOf(g.sql(input('syntax.sql', {}, 'broken', gclean)));
      expect(f.type).toBe('BadInput');
      expect(await gl.lake.list('broken')).toEqual([]);
    } finally {
      await gl.cleanup();
    }
  });
});

describe('features over a sql step', () => {
  it('featurizes the sql output as it would clean data, with the clean step key and label set', async () => {
    const filtered = await acts.sql(sqlInput('labels.sql', { labels: ['sports', 'world'], evil: '', tag: 't' }, 'two-labels'));
    const features = await acts.features({ lake: tl.uri, dataset: 'news', step: 'features', runId: 'test', inputs: { input: filtered }, params: TEXT_FEATURES_PARAMS as never });
    const m = (await manifestOf(features)) as Manifest & { labels: string[]; rowKey: unknown; splits: Record<string, number> };
    expect(m.inputs).toEqual([filtered.version]);
    expect(features.rows).toBe(filtered.rows);
    // The clean step's declared label set (not just the two labels left), and its key as the row key.
    expect(m.labels).toEqual([...TEXT_LABELS].sort());
    expect(m.rowKey).toEqual(['id']);
    const rows = await readRows(conn, tl.lake, tl.lake.relative(features.uri), { hive: true });
    expect(new Set(rows.map((x) => x.label))).toEqual(new Set(['sports', 'world']));
  });

  it('fails with SchemaMismatch naming the column when the sql step dropped one features needs', async () => {
    const noLabel = await acts.sql(sqlInput('no_label.sql', {}, 'no-label'));
    const before = await tl.lake.list('features/news');
    const f = await failureOf(acts.features({ lake: tl.uri, dataset: 'news', step: 'features', runId: 'test', inputs: { input: noLabel }, params: TEXT_FEATURES_PARAMS as never }));
    expect(f).toMatchObject({ type: 'SchemaMismatch', nonRetryable: true });
    expect(f.message).toMatch(/features needs column "label", which .*no-label\/news\/.* does not have \(it has: id, text\)/);
    expect(await tl.lake.list('features/news')).toEqual(before);
  });
});

describe('clean → sql → features through real workers', () => {
  let env: PipelineTestEnv;
  beforeAll(async () => { env = await createPipelineTestEnv({ rows: 600 }); });
  afterAll(async () => { await env?.close(); });

  const etlOnly = (sqlStep: Record<string, unknown>) =>
    smallNewsSpec((s) => {
      const [cleanStep, features] = s.steps;
      s.name = 'news-sql';
      s.steps = [cleanStep, { name: 'long-texts', uses: 'sql', needs: ['clean'], ...sqlStep }, { ...features, needs: ['long-texts'] }];
    });

  it('runs the example SQL file between clean and features, then re-runs from cache', async () => {
    await env.run(async () => {
      const spec = etlOnly({ with: { file: 'sql/custom/drop_short_texts.sql', params: { min_words: 8 } } });
      const opts = { lake: env.lake, queues: env.queues };
      const handle = await startPipeline(env.server.client, spec, { ...opts, runKey: 'sql-first' });
      const out = await handle.result();
      expect(Object.keys(out.steps)).toEqual(['clean', 'long-texts', 'features']);
      const sql = out.steps['long-texts'];
      // The output defaults to the step's name.
      expect(sql.uri).toBe(`${env.lake}/long-texts/news/${sql.version}`);
      expect(sql.rows).toBeGreaterThan(0);
      expect(sql.rows).toBeLessThan(out.steps.clean.rows!);
      expect(out.steps.features.rows).toBe(sql.rows);
      const progress = await getProgress(handle);
      expect(progress.steps.map((s) => [s.name, s.kind, s.state])).toEqual([
        ['clean', 'clean', 'succeeded'], ['long-texts', 'sql', 'succeeded'], ['features', 'features', 'succeeded'],
      ]);

      const again = await (await startPipeline(env.server.client, spec, { ...opts, runKey: 'sql-second' })).result();
      for (const name of ['clean', 'long-texts', 'features']) {
        expect(again.steps[name].cached, name).toBe(true);
        expect(again.steps[name].version).toBe(out.steps[name].version);
      }
    });
  });

  it('fails the run without retrying when the step does not set a parameter its SQL uses', async () => {
    await env.run(async () => {
      const spec = etlOnly({ with: { file: 'sql/custom/drop_short_texts.sql' } });
      const handle = await startPipeline(env.server.client, spec, { lake: env.lake, queues: env.queues, runKey: 'sql-broken' });
      const err = await handle.result().catch((e) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const failure = (err as WorkflowFailedError).cause as { type?: string; message: string };
      expect(failure.type).toBe('StepFailed');
      expect(failure.message).toMatch(/step "long-texts" failed: InvalidPipeline: with\.params: sql\/custom\/drop_short_texts\.sql uses \$min_words/);
      const steps = (await getProgress(handle)).steps;
      expect(steps.map((s) => s.state)).toEqual(['cached', 'failed', 'skipped']);
      // Not retried: one attempt.
      const history = await handle.fetchHistory();
      const started = history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
      expect(started.every((a) => a === 1)).toBe(true);
    });
  });
});
