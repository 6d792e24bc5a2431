// Partition fan-out: the clean step over many raw files, (0) as one activity (the baseline), then partitioned
// (workflows/partitioned-clean.ts) with 1 and with N ETL worker processes on the same queue, all in one run against
// the same server and data. Reports wall time, activities, and the history lengths (events) of every workflow
// involved (the pipeline, the step's child, and the children that run a phase past `tasksPerWorkflow` tasks): the
// largest is what a 1000-partition fan-out must keep well under Temporal's limits.
//   npx tsx bench/fanout.ts [--files 1000] [--rows 200000] [--workers 1,3] [--files-per-task 1] [--buckets 16] [--concurrency 32] [--tasks-per-workflow 200]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { startServer } from '../infra/temporal/server.mjs';
import { connectClient } from '../activities/common/temporal-connection.js';
import { REPO_ROOT } from '../activities/common/config.js';
import { openLake } from '../activities/lake/index.js';
import { generateTextClassification } from '../examples/generate-lib.js';
import { startPipeline } from '../sdk/pipelines.js';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '1000' }, rows: { type: 'string', default: '200000' }, workers: { type: 'string', default: '1,3' },
    'files-per-task': { type: 'string', default: '1' }, buckets: { type: 'string', default: '16' }, concurrency: { type: 'string', default: '32' },
    'tasks-per-workflow': { type: 'string', default: '200' },
  },
});
const FILES = Number(values.files);
const ROWS = Number(values.rows);
const WORKERS = values.workers!.split(',').map(Number);
const partitions = {
  filesPerTask: Number(values['files-per-task']), buckets: Number(values.buckets), concurrency: Number(values.concurrency),
  tasksPerWorkflow: Number(values['tasks-per-workflow']),
};
const log = (m: string) => process.stderr.write(`[fanout] ${new Date().toISOString()} ${m}\n`);

await startServer({ log });
const client = await connectClient();
const out = join(REPO_ROOT, 'bench', 'out', 'fanout');
const lakeUri = pathToFileURL(join(out, 'lake')).href;
const lake = openLake(lakeUri, { home: join(out, 'home') });
const dataset = `fanout-${FILES}`;
if ((await lake.list(`raw/${dataset}`)).length !== FILES) {
  log(`generating ${ROWS} rows in ${FILES} files`);
  await lake.removePrefix(`raw/${dataset}`);
  await generateTextClassification({ lake, dataset, rows: ROWS, files: FILES, seed: 3 });
}

/** Starts n ETL worker processes on their own queue and waits until each polls. */
async function startWorkers(n: number, queue: string): Promise<ChildProcess[]> {
  const procs: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    const home = join(out, `home-${queue}-${i}`);
    mkdirSync(home, { recursive: true });
    const child = spawn('npx', ['tsx', 'workers/etl.ts'], {
      cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LAKEFORGE_ETL_TASK_QUEUE: queue, LAKEFORGE_HOME: home, LAKEFORGE_LAKE: lakeUri },
    });
    await new Promise<void>((resolve, reject) => {
      let err = '';
      child.stderr!.on('data', (d) => { err += d; if (err.includes('ETL worker polling')) resolve(); });
      child.on('exit', (code) => reject(new Error(`ETL worker exited ${code}: ${err}`)));
    });
    procs.push(child);
  }
  return procs;
}

const stop = (procs: ChildProcess[]) => procs.forEach((p) => { try { process.kill(-p.pid!, 'SIGTERM'); } catch { /* gone */ } });
const dropOutputs = async () => { await lake.removePrefix(`clean/${dataset}`); await lake.removePrefix(`rejects/${dataset}`); };

interface Row { label: string; workers: number; wallS: number; activities: number; workflows: number; largestHistory: number; totalEvents: number; rows: number }
const rows: Row[] = [];
const suffix = Date.now().toString(36);

/** examples/pipelines/news.yaml cut down to its clean step, over the generated dataset. */
function cleanOnlySpec(partitioned: boolean) {
  const spec = parse(readFileSync(join(REPO_ROOT, 'examples', 'pipelines', 'news.yaml'), 'utf8'));
  spec.name = `fanout-${partitioned ? 'partitioned' : 'single'}`;
  spec.dataset.name = dataset;
  spec.steps = spec.steps.filter((s: { uses: string }) => s.uses === 'clean');
  spec.steps[0].heartbeatTimeout = '2m';
  if (partitioned) spec.steps[0].with.partitions = partitions;
  return spec;
}

async function measure(label: string, workers: number, partitioned: boolean): Promise<void> {
  const queue = `fanout-${workers}-${suffix}-${rows.length}`;
  const procs = await startWorkers(workers, queue);
  try {
    await dropOutputs();
    const t0 = performance.now();
    const handle = await startPipeline(client, cleanOnlySpec(partitioned), { lake: lakeUri, queues: { etl: queue }, runKey: queue });
    const result = await handle.result();
    const wallS = (performance.now() - t0) / 1000;
    // Every workflow involved: the pipeline, the step's child, and their children (phases past tasksPerWorkflow).
    const lengths: number[] = [];
    let activities = 0;
    for (const queue = [handle.workflowId]; queue.length;) {
      const events = (await client.workflow.getHandle(queue.shift()!).fetchHistory()).events ?? [];
      lengths.push(events.length);
      activities += events.filter((e) => e.activityTaskScheduledEventAttributes).length;
      for (const e of events) if (e.childWorkflowExecutionStartedEventAttributes) queue.push(e.childWorkflowExecutionStartedEventAttributes.workflowExecution!.workflowId!);
    }
    const clean = result.steps.clean;
    const row = { label, workers, wallS, activities, workflows: lengths.length, largestHistory: Math.max(...lengths), totalEvents: lengths.reduce((a, b) => a + b, 0), rows: clean.rows ?? 0 };
    rows.push(row);
    log(`${label}: ${wallS.toFixed(1)} s, ${activities} activities, ${row.workflows} workflows, largest history ${row.largestHistory} events (${row.totalEvents} in all), ${clean.rows} clean rows`);
  } finally {
    stop(procs);
  }
}

await measure('single activity (baseline)', 1, false);
for (const n of WORKERS) await measure(`partitioned, ${n} worker(s)`, n, true);
const base = rows[0].wallS;
const table = [
  '| Run | ETL workers | Wall s | vs baseline | Activities | Workflows | Largest history (events) | Events in all | Clean rows |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.label} | ${r.workers} | ${r.wallS.toFixed(1)} | ${(r.wallS / base).toFixed(2)} | ${r.activities} | ${r.workflows} | ${r.largestHistory} | ${r.totalEvents} | ${r.rows} |`),
].join('\n');
process.stdout.write(`${table}\n`);
writeFileSync(join(out, `fanout-${FILES}.json`), JSON.stringify({ files: FILES, rows: ROWS, partitions, results: rows }, null, 2));
await client.connection.close();
rmSync(join(out, 'home'), { recursive: true, force: true });
