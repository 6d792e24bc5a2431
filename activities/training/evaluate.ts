import { log } from '@temporalio/activity';
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { badInput, invalidPipeline } from '../common/failures.js';
import { StepResultSchema, type StepResult } from '../common/step-result.js';
import { buildManifest, describeFiles, lakeJoin, verifyPublished } from '../lake/index.js';
import { RunConfigSchema, type RunConfigInput, type TrainerEvent } from '../trainer/protocol.js';
import { normalizeTask, openLakeFor, parseInput, readInput, stableHash, stageDir, stageSplit, trainerCodeVersion, type ResolvedDeps } from './common.js';
import type { HistoryPoint } from './history.js';
import { renderReport } from './report.js';
import { baselineHeadlines } from './baselines.js';
import { gatherReportData } from './report-data.js';
import { currentContext, emptyHeartbeat, failureOf, startHeartbeats, superviseTrainer } from './supervise.js';
import { stepResult } from './train.js';
import { EvaluateParamsSchema, type EvaluateParams } from './params.js';
export { EvaluateParamsSchema, type EvaluateParams } from './params.js';


export const EvaluateInputSchema = z.object({
  lake: z.string().min(1),
  model: z.string().min(1),
  trained: StepResultSchema,
  features: StepResultSchema,
  params: EvaluateParamsSchema.prefault({}),
});
export type EvaluateInput = z.input<typeof EvaluateInputSchema>;

/**
 * Evaluates a published model on a features split and publishes `models/<model>/<version>/eval/` (metrics.json,
 * predictions.parquet, report.html, its own manifest). A separate publication because the model directory is
 * immutable once published; the same model, split and code give the same eval version (a cache hit).
 */
export async function evaluate(d: ResolvedDeps, raw: EvaluateInput): Promise<StepResult> {
  const input = parseInput(EvaluateInputSchema, raw, 'evaluate');
  const { params } = input;
  const attempt = currentContext()?.info.attempt ?? 1;
  const hb = { ...emptyHeartbeat(attempt), phase: 'staging' as string };
  const beats = startHeartbeats(() => hb, d.heartbeatEveryMs);
  const lake = openLakeFor(input.lake, d);
  const runDir = join(d.home, 'runs', `eval-${stableHash(input.trained.version, input.features.version, attempt, process.pid, Date.now())}`);
  let workDir: string | undefined;
  let published = false;
  try {
    const trained = await readInput(lake, input.trained, 'trained model');
    const features = await readInput(lake, input.features, 'features');
    const tm = trained.manifest as Record<string, unknown>;
    const task = normalizeTask(tm.task);
    const labels = tm.labels as string[] | undefined;
    if (!task || !Array.isArray(labels)) throw badInput(`${input.trained.uri} is not a lakeforge model (its manifest has no task or labels)`);
    const trainedParams = (trained.manifest.params ?? {}) as { maxLength?: number; truncation?: RunConfigInput['data']['truncation']; headTokens?: number | null };
    const maxLength = params.maxLength ?? trainedParams.maxLength ?? 128;
    // The model is scored on what it was trained to see, unless the step asks otherwise.
    const truncation = params.truncation ?? trainedParams.truncation ?? 'head';
    const headTokens = params.headTokens !== undefined ? params.headTokens : (trainedParams.headTokens ?? null);

    const codeVersion = await trainerCodeVersion(d.trainerDir);
    const { graceSeconds: _g, ...versioned } = params;
    const version = stableHash({ step: 'evaluate', model: input.trained.version, features: input.features.version, params: { ...versioned, maxLength, truncation, headTokens }, trainer: codeVersion });
    const evalRel = lakeJoin(trained.rel, 'eval');
    const cached = await verifyPublished(lake, evalRel, version);
    if (cached.ok) return stepResult(lake, 'evaluate', evalRel, cached.manifest, true);

    await mkdir(runDir, { recursive: true });
    const splitDir = await stageSplit(lake, features.rel, params.split, join(runDir, 'data'));
    if (!splitDir) throw badInput(`features ${input.features.uri} has no split=${params.split} part files`);
    const modelDir = await stageDir(lake, trained.rel, join(runDir, 'model'), ['eval', '_manifest.json']);
    // The baselines learn from the same train split as the model (absent: they are skipped, and metrics.json says so).
    const baselinesOn = params.baselines?.enabled !== false;
    const trainDir = baselinesOn ? await stageSplit(lake, features.rel, 'train', join(runDir, 'data')) : null;

    workDir = await lake.createWorkDir(evalRel);
    const run: RunConfigInput = {
      task,
      model: { name_or_path: modelDir },
      tokenizer: { type: 'pretrained', name_or_path: modelDir },
      data: { train: trainDir, val: null, test: splitDir, max_length: maxLength, truncation, head_tokens: headTokens, chunks: params.chunks ?? null },
      labels,
      hparams: params.batchSize ? { eval_batch_size: params.batchSize } : {},
      ...(params.baselines ? { baselines: params.baselines } : {}),
      output_dir: workDir,
    };
    const checked = RunConfigSchema.safeParse(run);
    if (!checked.success) throw invalidPipeline(`evaluate: the run config is invalid: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const configPath = join(runDir, 'run.json');
    await writeFile(configPath, JSON.stringify(run, null, 2));

    const slot = await d.slots.acquire(currentContext()?.cancellationSignal);
    let outcome;
    try {
      hb.slot = slot.id;
      hb.phase = 'running';
      outcome = await superviseTrainer({
        python: d.python, trainerDir: d.trainerDir, mode: 'evaluate', configPath, slot, env: d.trainerEnv,
        graceMs: (params.graceSeconds ?? d.graceMs / 1000) * 1000,
        onEvent: (e: TrainerEvent) => {
          d.onTrainerEvent?.(e, { mode: 'evaluate', model: input.model, attempt, pid: hb.pid ?? -1 });
          if (e.event === 'started') beats.beat();
        },
        onStart: (pid) => { hb.pid = pid; beats.beat(); },
        shutdownSignal: d.shutdownSignal,
      });
    } finally {
      slot.release();
      hb.pid = null;
    }
    if (outcome.cancelled && !currentContext()?.cancellationDetails?.workerShutdown) throw outcome.cancelled;
    const failure = failureOf(outcome.exit, `evaluate ${input.model}`);
    if (failure) throw failure;
    const done = outcome.exit.done!;

    hb.phase = 'publishing';
    beats.beat();
    const body = JSON.parse(await readFile(join(workDir, 'metrics.json'), 'utf8')) as Record<string, unknown>;
    const rows = typeof body.rows === 'number' ? body.rows : 0;
    const historyText = await lake.readText(lakeJoin(trained.rel, 'training_history.json'));
    const history = historyText ? ((JSON.parse(historyText) as { points?: HistoryPoint[] }).points ?? []) : [];
    const confusion = task === 'token-classification' ? await tagConfusion(join(workDir, 'predictions.parquet'), labels).catch((err) => {
      log.warn('no tag confusion matrix', { error: String(err) });
      return undefined;
    }) : undefined;
    const baselines = baselineHeadlines(body.baselines);
    const createdAt = new Date().toISOString();
    const extras = await gatherReportData(lake, {
      model: input.model, modelVersion: input.trained.version, modelRel: trained.rel, modelManifest: trained.manifest, featuresRel: features.rel,
      featuresManifest: features.manifest, predictions: join(workDir, 'predictions.parquet'), task, labels,
    });
    await writeFile(join(workDir, 'report.html'), renderReport({
      model: input.model, version: input.trained.version, task, split: params.split, metrics: body, headline: done.metrics, confusion, history, createdAt, extras,
    }));
    const files = await describeFiles(workDir, async (abs) => (abs.endsWith('.parquet') ? rows : 0));
    const manifest = buildManifest({
      version, step: 'evaluate', inputs: [input.trained.version, input.features.version], params: { ...params, maxLength, truncation, headTokens }, files,
      schema: [],
      extra: { kind: 'evaluation', model: input.model, modelVersion: input.trained.version, modelUri: input.trained.uri, task, split: params.split, metrics: { ...done.metrics, rows }, baselines },
    });
    const out = await lake.publish(workDir, evalRel, manifest);
    published = true;
    const final = out === 'published' ? manifest : ((await verifyPublished(lake, evalRel, version)).manifest ?? manifest);
    return stepResult(lake, 'evaluate', evalRel, final, out !== 'published');
  } finally {
    beats.stop();
    await rm(runDir, { recursive: true, force: true }).catch(() => {});
    if (workDir && !published) await lake.discardWorkDir(workDir).catch(() => {});
  }
}

/** Word-level tag confusion from predictions.parquet (`tags`, `predicted_tags` lists), with DuckDB. */
async function tagConfusion(path: string, labels: string[]): Promise<{ labels: string[]; matrix: number[][] }> {
  const db = await DuckDBInstance.create(':memory:');
  try {
    const conn = await db.connect();
    const res = await conn.runAndReadAll(
      `SELECT t, p, count(*)::BIGINT AS n FROM (SELECT unnest(tags) AS t, unnest(predicted_tags) AS p FROM read_parquet($path)) GROUP BY ALL`,
      { path },
    );
    const idx = new Map(labels.map((l, i) => [l, i]));
    const matrix = labels.map(() => labels.map(() => 0));
    for (const [t, p, n] of res.getRows()) {
      const i = idx.get(String(t));
      const j = idx.get(String(p));
      if (i !== undefined && j !== undefined) matrix[i][j] = Number(n);
    }
    conn.closeSync();
    return { labels, matrix };
  } finally {
    db.closeSync();
  }
}

