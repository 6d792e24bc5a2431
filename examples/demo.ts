// `npm start`: the whole lakeforge loop on this machine, on real data. Makes sure a Temporal dev server runs, starts
// an ETL and a GPU worker in this process, writes the real intents data (with delivery dirt) into the local lake if
// it is missing, runs examples/pipelines/intents.yaml (clean → features → fine-tune the shipped pretrained encoder →
// evaluate beside the baselines → promote) with live progress, then prints the decision first, the candidate against
// the baselines, the report, the rows rejected and why, and the Web UI link. A second run shows the steps as cached.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { startServer, webUiUrl } from '../infra/temporal/server.mjs';
import { loadConfig } from '../activities/common/config.js';
import { connectClient } from '../activities/common/temporal-connection.js';
import { openLake } from '../activities/lake/index.js';
import { createEtlWorker } from '../workers/etl.js';
import { createGpuWorker } from '../workers/gpu.js';
import { loadPipelineFile } from '../sdk/load-spec.js';
import { getProgress, startPipeline } from '../sdk/pipelines.js';
import { ProgressRenderer } from '../cli/render/progress.js';
import { prepareIntentsLake } from './intents/prepare.js';
import { describeOutcome } from './demo-summary.js';

const SPEC = fileURLToPath(new URL('./pipelines/intents.yaml', import.meta.url));
const cfg = loadConfig();
const say = (m: string) => process.stdout.write(`${m}\n`);

// Worker INFO logs (bundling, state changes) would bury the progress display.
Runtime.install({ logger: new DefaultLogger('WARN') });
await startServer();
const lake = openLake(cfg.lake, { home: cfg.home });
if ((await lake.list('raw/intents')).length === 0) {
  say(`writing the Home Assistant intents commands (real data, with delivery dirt) into ${lake.uri('raw/intents')} …`);
  const p = await prepareIntentsLake({ lake, python: join(cfg.home, 'venv', 'bin', 'python') });
  say(`  ${p.exported} real commands in ${p.labels.length} intents → ${p.written} raw rows`);
}

const etl = await createEtlWorker();
const gpu = await createGpuWorker();
say(`workers: ETL on ${cfg.etlTaskQueue}, GPU on ${gpu.taskQueue} (slots: ${gpu.slots.map((s) => `${s.kind}:${s.id}`).join(', ')})`);
const client = await connectClient();
const plan = loadPipelineFile(SPEC);

const run = async () => {
  const handle = await startPipeline(client, plan.spec, { lake: cfg.lake });
  const url = `${webUiUrl()}/namespaces/${cfg.temporalNamespace}/workflows/${encodeURIComponent(handle.workflowId)}`;
  say(`started ${handle.workflowId}\n  Web UI: ${url}\n`);
  const renderer = new ProgressRenderer(process.stdout);
  const poll = setInterval(() => { getProgress(handle).then((p) => renderer.update(p), () => {}); }, 500);
  try {
    const out = await handle.result();
    clearInterval(poll);
    renderer.finish(await getProgress(handle));
    return { out, url, handle };
  } catch (err) {
    clearInterval(poll);
    renderer.finish(await getProgress(handle).catch(() => undefined) ?? (undefined as never));
    throw err;
  }
};

let exitCode = 0;
try {
  const { out, url } = await etl.worker.runUntil(gpu.worker.runUntil(run));
  say('');
  const evalDir = out.steps.evaluate.uri.startsWith('file://') ? fileURLToPath(out.steps.evaluate.uri) : out.steps.evaluate.uri;
  const metrics = JSON.parse((await lake.readText(`${lake.relative(out.steps.evaluate.uri)}/metrics.json`)) ?? '{}');
  const gate = plan.steps.find((st) => st.kind === 'promote')!.params as { metric: string; mode: 'max' | 'min' };
  for (const line of describeOutcome({ promote: out.steps.promote.metrics ?? {}, cached: out.steps.promote.cached, evaluation: metrics, metric: gate.metric, mode: gate.mode })) say(line);
  say(`Report: ${join(evalDir, 'report.html')}`);

  // Why rows were rejected: the clean step's conservation counts (rows_in = rows_clean + rows_rejected).
  const m = out.steps.clean.metrics ?? {};
  say(`\nClean: ${m.rows_in} rows in = ${m.rows_clean} clean + ${m.rows_rejected} rejected (${lake.uri('rejects/intents/' + out.steps.clean.version)})`);
  for (const [k, n] of Object.entries(m).filter(([k]) => k.startsWith('rejected.')).sort((a, b) => b[1] - a[1])) {
    say(`  ${String(n).padStart(6)}  ${k.slice('rejected.'.length)}`);
  }
  say(`\nWeb UI: ${url}`);
  say('Run `npm start` again: the ETL, training and evaluation steps are cache hits.');
} catch (err) {
  exitCode = 1;
  const cause = err instanceof WorkflowFailedError ? err.cause : err;
  say(`pipeline failed: ${cause instanceof Error ? cause.message : String(cause)}`);
} finally {
  await etl.close();
  await gpu.close();
}
process.exit(exitCode);
