// The peer benchmark (issue 19): the same pipelines in lakeforge, Prefect 3 and Dagster, each durable the way its
// users run it, interleaved in one run, timed by what each engine itself recorded.
//   npx tsx bench/peers/main.ts [--runs 5] [--steps 10] [--rows 2000000] [--skip-etl]
// 1. a 10-step chain after a clean step (every step a DuckDB statement over Parquet); 2. the same chain fully cached
// (lakeforge's cache, Prefect's INPUTS cache policy; Dagster has none); 3. clean → features over `--rows` rows with
// the very SQL lakeforge runs (bench/peers/statements.ts). Prints the table bench/RESULTS.md records.
import { parseArgs } from 'node:util';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';

const { values } = parseArgs({ options: {
  runs: { type: 'string', default: '5' }, steps: { type: 'string', default: '10' }, rows: { type: 'string', default: '2000000' },
  'skip-etl': { type: 'boolean', default: false },
} });
const RUNS = Number(values.runs);
const STEPS = Number(values.steps);
const ROWS = Number(values.rows);

const { REPO_ROOT } = await import('../../activities/common/config.js');
const { ensureGoTool } = await import('../../infra/tools.mjs');
const { freePort, spawnDevServer } = await import('../../infra/temporal/server.mjs');
const OUT = join(REPO_ROOT, 'bench', 'out', 'peers');
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const log = (m: string) => process.stderr.write(`[bench] ${new Date().toISOString().slice(11, 19)} ${m}\n`);

// lakeforge's own dev server, on its SQLite file, with lakeforge's dynamic config (infra/temporal/server.mjs).
const port = await freePort();
const server = await spawnDevServer({ temporalBin: await ensureGoTool('temporal'), port, uiPort: null, dbFile: join(OUT, 'temporal.db'), logFile: join(OUT, 'temporal.log') });
process.env.TEMPORAL_ADDRESS = `127.0.0.1:${port}`;
// The server is detached (its own process group): end it however this process ends.
process.on('exit', () => { try { process.kill(-server.pid!, 'SIGTERM'); } catch { /* gone */ } });
process.env.LAKEFORGE_HOME ??= join(REPO_ROOT, '.lakeforge');

const { Runtime, DefaultLogger } = await import('@temporalio/worker');
Runtime.install({ logger: new DefaultLogger('WARN') });
const { connectClient } = await import('../../activities/common/temporal-connection.js');
const { createEtlWorker } = await import('../../workers/etl.js');
const { createDuckDb } = await import('../../activities/duckdb/instance.js');
const { openLake, readManifest } = await import('../../activities/lake/index.js');
const { generateTextClassification } = await import('../../examples/generate-lib.js');
const { chainSpec, etlSpec, runLakeforge, StepClock } = await import('./lakeforge.js');
const { cleanStatements, featuresStatements } = await import('./statements.js');
const { ensurePeersVenv, startPrefect, runPeer } = await import('./peers.js');
const { summarize, fmtS, fmtMs, ratio } = await import('./stats.js');
type Sample = import('./stats.js').Sample;

const versions = ensurePeersVenv();
const prefect = await startPrefect(join(OUT, 'prefect-home'));
process.on('exit', () => prefect.kill());
const dagsterEnv = { DAGSTER_HOME: join(OUT, 'dagster-home') };
mkdirSync(dagsterEnv.DAGSTER_HOME, { recursive: true });
const client = await connectClient();
const queue = `bench-peers-${Date.now().toString(36)}`;
const clock = new StepClock();
const { worker, close } = await createEtlWorker({ taskQueue: queue, activityInterceptors: [clock.interceptor] });
const db = await createDuckDb({ tempDirectory: join(OUT, 'duckdb-tmp') });

const samples: Record<string, Sample[]> = { lfChain: [], lfCached: [], pfChain: [], pfCached: [], dgChain: [], lfEtl: [], pfEtl: [], dgEtl: [] };
let lfCachedEvents = 0;

await worker.runUntil(async () => {
  // The chain's raw data, generated once and copied into a fresh lake each round (so every chain run computes).
  const seedLake = join(OUT, 'seed-lake');
  await generateTextClassification({ lake: openLake(pathToFileURL(seedLake).href, { home: OUT }), dataset: 'chain', rows: 2000, seed: 1 });
  let cleanParams: unknown;
  for (let r = -1; r < RUNS; r++) {
    const measured = r >= 0; // round -1 warms every engine up (imports, caches, the workflow bundle)
    const round = join(OUT, `round-${r + 1}`);
    const lakeDir = join(round, 'lake');
    cpSync(join(seedLake, 'raw'), join(lakeDir, 'raw'), { recursive: true });
    const lake = pathToFileURL(lakeDir).href;
    const spec = chainSpec('chain', STEPS);
    const run = await runLakeforge(client, clock, spec, lake, `chain-${r + 1}`, queue);
    const again = await runLakeforge(client, clock, spec, lake, `cached-${r + 1}`, queue);
    if (again.cached !== STEPS + 1) throw new Error(`lakeforge cached run: ${again.cached} of ${STEPS + 1} steps cached`);
    if (!cleanParams) {
      const res = run.result as { steps: Record<string, { manifest: string }> };
      const l = openLake(lake, { home: OUT });
      cleanParams = (await readManifest(l, l.relative(res.steps.clean.manifest.replace(/\/_manifest\.json$/, ''))))!.params;
    }
    const rawFiles = (await openLake(lake, { home: OUT }).list('raw/chain')).filter((o) => o.path.endsWith('.parquet')).map((o) => join(lakeDir, ...o.path.split('/')));
    const peerRun = async (peer: 'prefect' | 'dagster', env: Record<string, string>) => {
      const work = join(round, peer);
      const { statements, output } = await cleanStatements(db, cleanParams, rawFiles, join(work, 'clean'));
      const file = join(work, 'statements.json');
      writeFileSync(file, JSON.stringify({ chain_clean: statements, chain_clean_out: output }));
      return { file, work, run: () => runPeer(peer, 'chain', { statements: file, work, steps: STEPS }, env) };
    };
    const pf = await peerRun('prefect', prefect.env);
    const pfChain = await pf.run();
    const pfCached = await pf.run();
    if (pfCached.cached !== STEPS + 1) throw new Error(`prefect cached run: ${pfCached.cached} of ${STEPS + 1} tasks cached`);
    const dgChain = await (await peerRun('dagster', dagsterEnv)).run();
    if (!measured) continue;
    samples.lfChain.push(run); samples.lfCached.push(again); lfCachedEvents = again.events;
    samples.pfChain.push(pfChain); samples.pfCached.push(pfCached); samples.dgChain.push(dgChain);
    log(`round ${r + 1}/${RUNS}: lakeforge ${run.total_s.toFixed(2)}s cached ${again.total_s.toFixed(2)}s · prefect ${pfChain.total_s.toFixed(2)}s cached ${pfCached.total_s.toFixed(2)}s · dagster ${dgChain.total_s.toFixed(2)}s`);
  }

  if (values['skip-etl']) return;
  // The big case: `--rows` generated rows (bench/out/lake, shared with bench/etl.ts), clean → features.
  const bigDir = join(REPO_ROOT, 'bench', 'out', 'lake');
  const big = openLake(pathToFileURL(bigDir).href, { home: OUT });
  const dataset = `bench-${ROWS}`;
  let raw = (await big.list(`raw/${dataset}`)).filter((o) => o.path.endsWith('.parquet'));
  if (!raw.length) {
    log(`generating ${ROWS} rows`);
    await generateTextClassification({ lake: big, dataset, rows: ROWS, seed: 42 });
    raw = (await big.list(`raw/${dataset}`)).filter((o) => o.path.endsWith('.parquet'));
  }
  for (const tree of ['clean', 'rejects', 'features']) rmSync(join(bigDir, tree, dataset), { recursive: true, force: true });
  const lf = await runLakeforge(client, clock, etlSpec(dataset), pathToFileURL(bigDir).href, `etl-${Date.now()}`, queue);
  if (lf.cached) throw new Error('the ETL run hit the cache');
  samples.lfEtl.push(lf);
  log(`lakeforge clean → features: ${lf.total_s.toFixed(1)}s`);
  const res = lf.result as { steps: Record<string, { manifest: string }> };
  const params = async (step: string) => (await readManifest(big, big.relative(res.steps[step].manifest.replace(/\/_manifest\.json$/, ''))))!.params;
  const rawFiles = raw.map((o) => join(bigDir, ...o.path.split('/')));
  for (const peer of ['prefect', 'dagster'] as const) {
    const work = mkdtempSync(join(OUT, `etl-${peer}-`));
    const c = await cleanStatements(db, await params('clean'), rawFiles, work);
    const f = featuresStatements((await params('features')) as never, c.output, work);
    const file = join(work, 'statements.json');
    writeFileSync(file, JSON.stringify({ etl_clean: c.statements, etl_features: f }));
    const s = await runPeer(peer, 'etl', { statements: file, work, steps: 0 }, peer === 'prefect' ? prefect.env : dagsterEnv);
    (peer === 'prefect' ? samples.pfEtl : samples.dgEtl).push(s);
    log(`${peer} clean → features: ${s.total_s.toFixed(1)}s`);
    rmSync(work, { recursive: true, force: true });
  }
});

await close();
db.closeSync();

const S = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
const row = (name: string, a: string, b: string, c: string) => `| ${name} | ${a} | ${b} | ${c} |`;
const gap = (k: string) => `${fmtMs(S[k].gapP50)} / ${fmtMs(S[k].gapP95)}`;
const table = [
  `| n=${RUNS} runs each, interleaved (${cpus().length} cores, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}) | lakeforge | Prefect ${versions.prefect} | Dagster ${versions.dagster} |`,
  '|---|---|---|---|',
  row(`${STEPS}-step chain after clean, engine-recorded`, fmtS(S.lfChain.total), fmtS(S.pfChain.total), fmtS(S.dgChain.total)),
  row('gap between steps p50 / p95', gap('lfChain'), gap('pfChain'), gap('dgChain')),
  row('same chain fully cached', `${fmtS(S.lfCached.total)}; ${lfCachedEvents} history events`, `${fmtS(S.pfCached.total)}; gap p50 ${fmtMs(S.pfCached.gapP50)}`, 'no skip-if-cached'),
  row(`${ROWS.toLocaleString('en')}-row clean → features (same SQL, DuckDB ${versions.duckdb})`, fmtS(S.lfEtl.total), fmtS(S.pfEtl.total), fmtS(S.dgEtl.total)),
  '',
  '| peer ÷ lakeforge (above 1: lakeforge is faster) | Prefect | Dagster |',
  '|---|---|---|',
  `| chain | ${ratio(S.pfChain.total?.median, S.lfChain.total?.median)} | ${ratio(S.dgChain.total?.median, S.lfChain.total?.median)} |`,
  `| gap p50 | ${ratio(S.pfChain.gapP50, S.lfChain.gapP50)} | ${ratio(S.dgChain.gapP50, S.lfChain.gapP50)} |`,
  `| fully cached | ${ratio(S.pfCached.total?.median, S.lfCached.total?.median)} | — |`,
  `| clean → features | ${ratio(S.pfEtl.total?.median, S.lfEtl.total?.median)} | ${ratio(S.dgEtl.total?.median, S.lfEtl.total?.median)} |`,
].join('\n');
writeFileSync(join(REPO_ROOT, 'bench', 'out', 'peers.json'), JSON.stringify({ versions, samples, summary: S }, null, 2));
console.log(table);
process.exit(0);
