// Overhead between pipeline steps: the gap from one step's completion to the next step's start, read from the
// workflow histories of real runs on the dev server. pipelineWorkflow runs the news pipeline with every step a
// cache hit (so the steps themselves are near-instant); the baseline is a bare workflow chaining no-op activities
// on the same server, in the same run.
//   npx tsx bench/overhead.ts [--runs 10]
import { Worker, DefaultLogger, Runtime, bundleWorkflowCode } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { parseArgs } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startServer } from '../infra/temporal/server.mjs';
import { connectClient, connectWorker } from '../activities/common/temporal-connection.js';
import { createDuckDb } from '../activities/duckdb/instance.js';
import { createEtlActivities } from '../activities/steps/index.js';
import { gpuActivities } from '../workers/gpu-activities.js';
import { createPromoteActivities } from '../activities/steps/index.js';
import { openLake } from '../activities/lake/index.js';
import { generateTextClassification } from '../examples/generate-lib.js';
import { loadPipelineFile } from '../cli/load-spec.js';
import { startPipeline } from '../cli/sdk.js';
import { WORKFLOWS_PATH } from '../workers/workflows-path.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const RUNS = Number(values.runs);
Runtime.install({ logger: new DefaultLogger('WARN') });
await startServer();

type Event = temporal.api.history.v1.IHistoryEvent;
const ms = (e: Event) => Number(e.eventTime!.seconds) * 1000 + Math.round((e.eventTime!.nanos ?? 0) / 1e6);

/** Gaps between an activity's completion and the start of the next activity scheduled after it. */
function gaps(events: Event[]): number[] {
  const out: number[] = [];
  let lastCompleted: number | undefined;
  for (const e of events) {
    if (e.activityTaskCompletedEventAttributes) lastCompleted = ms(e);
    if (e.activityTaskStartedEventAttributes && lastCompleted !== undefined) {
      out.push(ms(e) - lastCompleted);
      lastCompleted = undefined;
    }
  }
  return out;
}
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

const client = await connectClient();
const connection = await connectWorker();
const home = mkdtempSync(join(tmpdir(), 'lakeforge-bench-'));
const lakeUri = pathToFileURL(join(home, 'lake')).href;
await generateTextClassification({ lake: openLake(lakeUri, { home }), dataset: 'news', rows: 2000, seed: 1 });
const db = await createDuckDb({ tempDirectory: join(home, 'tmp') });
const suffix = Date.now().toString(36);
const queues = { etl: `bench-etl-${suffix}`, gpu: `bench-gpu-${suffix}` };
const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH });
const etl = await Worker.create({ connection, taskQueue: queues.etl, workflowBundle: { code }, activities: { ...createEtlActivities({ duckdb: db, home }), ...createPromoteActivities({ home }) } });
const gpu = await Worker.create({ connection, taskQueue: queues.gpu, workflowBundle: { code }, activities: gpuActivities({ home: join(process.cwd(), '.lakeforge') }) });
const base = await Worker.create({
  connection, taskQueue: `bench-base-${suffix}`, workflowsPath: fileURLToPath(new URL('./overhead-workflows.ts', import.meta.url)),
  activities: { noop: async (i: number) => i },
});

const spec = loadPipelineFile('examples/pipelines/news.yaml').spec;
(spec.steps.find((s) => s.uses === 'train')!.with as { hparams: Record<string, unknown> }).hparams.epochs = 1;
const lakeforgeGaps: number[] = [];
const baselineGaps: number[] = [];
await etl.runUntil(gpu.runUntil(base.runUntil(async () => {
  // Warm-up run computes every step once; the measured runs are all cache hits.
  await (await startPipeline(client, spec, { lake: lakeUri, queues, runKey: `warm-${suffix}` })).result();
  for (let r = 0; r < RUNS; r++) {
    const h = await startPipeline(client, spec, { lake: lakeUri, queues, runKey: `bench-${suffix}-${r}` });
    await h.result();
    lakeforgeGaps.push(...gaps((await h.fetchHistory()).events ?? []));
    const b = await client.workflow.start('chainBaselineWorkflow', { taskQueue: `bench-base-${suffix}`, workflowId: `bench-base-${suffix}-${r}`, args: [5] });
    await b.result();
    baselineGaps.push(...gaps((await b.fetchHistory()).events ?? []));
  }
})));
db.closeSync();
const row = (name: string, xs: number[]) => `| ${name} | ${xs.length} | ${pct(xs, 50)} | ${pct(xs, 95)} |`;
console.log(['| Chain | Gaps | p50 ms | p95 ms |', '| --- | --- | --- | --- |', row('pipelineWorkflow (cached steps)', lakeforgeGaps), row('baseline: bare activity chain', baselineGaps)].join('\n'));
console.log(`p50 ratio lakeforge/baseline: ${(pct(lakeforgeGaps, 50) / Math.max(1, pct(baselineGaps, 50))).toFixed(2)}`);
process.exit(0);
