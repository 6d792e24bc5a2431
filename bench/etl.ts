// ETL benchmark: clean + features over N generated text-classification rows (default 10M), three ways:
//   (a) through the lakeforge activities (createEtlActivities: listing, schema checks, the SQL, manifests with
//       sha256, publishing, heartbeats),
//   (b) the very same SQL statements run directly on a DuckDB connection (buildCleanSql / buildFeaturesSql),
//   (c) the same cleaning and features in pandas (bench/etl_pandas.py, in the venv).
// Usage: npx tsx bench/etl.ts [--rows 10000000] [--skip-pandas]
// Writes bench/out/etl-<rows>.json; figures go into bench/RESULTS.md by hand.
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cpus, totalmem } from 'node:os';
import { REPO_ROOT } from '../activities/common/config.js';
import { createDuckDb } from '../activities/duckdb/instance.js';
import { buildCleanSql, buildFeaturesSql, CleanParamsSchema, createEtlActivities } from '../steps/index.js';
import { openLake, readManifest } from '../activities/lake/index.js';
import { generateTextClassification, TEXT_CLEAN_PARAMS, TEXT_FEATURES_PARAMS } from '../examples/generate-lib.js';
import type { FeaturesParams } from '../steps/features/params.js';
import { listValue } from '@duckdb/node-api';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '10000000' }, 'skip-pandas': { type: 'boolean', default: false } } });
const rows = Number(values.rows);
const out = join(REPO_ROOT, 'bench', 'out');
const lakeDir = join(out, 'lake');
const lakeUri = pathToFileURL(lakeDir).href;
const home = join(out, 'home');
const dataset = `bench-${rows}`;
mkdirSync(lakeDir, { recursive: true });
const lake = openLake(lakeUri, { home });
const duckdb = await createDuckDb({ tempDirectory: join(out, 'duckdb-tmp') });
const log = (m: string) => process.stderr.write(`[bench] ${new Date().toISOString()} ${m}\n`);
const secs = (t: number) => (performance.now() - t) / 1000;

// Input, generated once per row count.
let raw = (await lake.list(`raw/${dataset}`)).filter((o) => o.path.endsWith('.parquet'));
let genS: number | null = null;
if (raw.length === 0) {
  log(`generating ${rows} rows`);
  const t = performance.now();
  await generateTextClassification({ lake, dataset, rows, seed: 42 });
  genS = secs(t);
  raw = (await lake.list(`raw/${dataset}`)).filter((o) => o.path.endsWith('.parquet'));
  log(`generated in ${genS.toFixed(1)}s`);
}
const rawFiles = raw.map((o) => join(lakeDir, ...o.path.split('/')));
const rawBytes = raw.reduce((s, o) => s + o.size, 0);

// (a) the activities, from an empty cache.
for (const tree of ['clean', 'rejects', 'features']) rmSync(join(lakeDir, tree, dataset), { recursive: true, force: true });
const acts = createEtlActivities({ duckdb, home, defaultLake: lakeUri });
log('(a) activities: clean');
let t = performance.now();
const c = await acts.clean({ lake: lakeUri, dataset, step: 'clean', runId: 'test', inputs: {}, params: TEXT_CLEAN_PARAMS as never });
const aCleanS = secs(t);
log(`(a) clean ${aCleanS.toFixed(1)}s; features`);
t = performance.now();
const f = await acts.features({ lake: lakeUri, dataset, step: 'features', runId: 'test', inputs: { input: c }, params: TEXT_FEATURES_PARAMS as never });
const aFeaturesS = secs(t);
const aS = aCleanS + aFeaturesS;
log(`(a) features ${aFeaturesS.toFixed(1)}s`);
if (c.cached || f.cached) throw new Error('benchmark run hit the cache');
const featuresParams = (await readManifest(lake, lake.relative(f.uri)))!.params as FeaturesParams;

// (b) the same statements, directly.
const direct = join(out, 'direct');
rmSync(direct, { recursive: true, force: true });
for (const s of ['train', 'val', 'test']) mkdirSync(join(direct, 'features', `split=${s}`), { recursive: true });
mkdirSync(join(direct, 'clean'), { recursive: true });
mkdirSync(join(direct, 'rejects'), { recursive: true });
const conn = await duckdb.connect();
const used = (sql: string, all: Record<string, unknown>) => Object.fromEntries(Object.entries(all).filter(([k]) => new RegExp(`\\$${k}\\b`).test(sql))) as never;
const run = async (sql: string, all: Record<string, unknown> = {}) => {
  const p = used(sql, all);
  return Object.keys(p).length ? conn.run(sql, p) : conn.run(sql);
};
log('(b) direct SQL: clean');
t = performance.now();
const params = CleanParamsSchema.parse(TEXT_CLEAN_PARAMS);
const described = await conn.runAndReadAll('DESCRIBE SELECT * FROM read_parquet($files, union_by_name = true)', { files: listValue(rawFiles) });
const present = new Map((described.getRowObjectsJson() as { column_name: string; column_type: string }[]).map((d) => [d.column_name.toLowerCase(), d.column_type]));
const cs = buildCleanSql(params, present, rawFiles, join(direct, 'clean', 'part-0.parquet'), join(direct, 'rejects', 'part-0.parquet'));
await run(cs.macro);
await run(cs.checked, cs.params);
await run(cs.duplicates);
await run(cs.markDuplicates);
await run(cs.writeClean);
const [collect, copy] = cs.writeRejects.split(/;\s*\n/);
await run(collect, cs.params);
await run(copy);
await run(cs.counts);
await run('DROP TABLE duplicates');
await run('DROP TABLE checked');
await run('DROP TABLE rejected');
const bCleanS = secs(t);
log(`(b) clean ${bCleanS.toFixed(1)}s; features`);
t = performance.now();
const fs = buildFeaturesSql(featuresParams, [join(direct, 'clean', 'part-0.parquet')], join(direct, 'features'));
await run(fs.featurized, fs.params);
await run(fs.checks);
for (const s of ['train', 'val', 'test']) await conn.run(fs.writeSplit(s), { split: s });
await run('DROP TABLE featurized');
const bFeaturesS = secs(t);
const bS = bCleanS + bFeaturesS;
log(`(b) features ${bFeaturesS.toFixed(1)}s`);
conn.closeSync();

// (c) pandas.
let cRes: { total_s: number; clean_s: number; features_s: number; rows_clean: number; pandas: string } | null = null;
if (!values['skip-pandas']) {
  log('(c) pandas');
  const py = join(REPO_ROOT, '.lakeforge', 'venv', 'bin', 'python');
  const stdout = execFileSync(py, [join(REPO_ROOT, 'bench', 'etl_pandas.py'), '--out', join(out, 'pandas'), ...rawFiles], { encoding: 'utf8', maxBuffer: 1 << 20 });
  cRes = JSON.parse(stdout.trim().split('\n').pop()!);
  log(`(c) pandas ${cRes!.total_s.toFixed(1)}s (rows_clean ${cRes!.rows_clean} vs ${c.rows})`);
}

const result = {
  rows,
  rawBytes,
  machine: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), duckdbThreads: process.env.LAKEFORGE_DUCKDB_THREADS ?? 'default', duckdbMemory: process.env.LAKEFORGE_DUCKDB_MEMORY ?? 'default' },
  generateS: genS,
  rowsClean: c.rows,
  a: { cleanS: aCleanS, featuresS: aFeaturesS, totalS: aS, rowsPerS: rows / aS },
  b: { cleanS: bCleanS, featuresS: bFeaturesS, totalS: bS, rowsPerS: rows / bS },
  c: cRes ? { ...cRes, rowsPerS: rows / cRes.total_s } : null,
  ratios: { aOverB: aS / bS, cOverA: cRes ? cRes.total_s / aS : null },
};
writeFileSync(join(out, `etl-${rows}.json`), JSON.stringify(result, null, 2));
console.log(JSON.stringify(result, null, 2));
duckdb.closeSync();
