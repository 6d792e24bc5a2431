// evaluate: a published model on a features split → models/<model>/<version>/eval/, through the kernel. A separate
// publication because the model directory is immutable once published; the same model, split and code give the
// same eval version (a cache hit).
import { log } from '@temporalio/activity';
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput, invalidPipeline } from '../../contracts/failures.js';
import type { StepInput } from '../../contracts/step-input.js';
import type { StepResult } from '../../contracts/step-result.js';
import { buildManifest, describeFiles, lakeJoin } from '../../activities/lake/index.js';
import { RunConfigSchema, type RunConfigInput, type Task } from '../../contracts/trainer-protocol.js';
import { trainerCodeVersion, type ResolvedDeps } from '../../activities/trainer/deps.js';
import { normalizeTask } from '../../activities/trainer/features-meta.js';
import { currentContext } from '../../activities/kernel/context.js';
import { runStep, type StepImpl } from '../../activities/kernel/lifecycle.js';
import { stageSplit, stageTree } from '../../activities/kernel/stage.js';
import { localKey, stepVersion } from '../../activities/kernel/version.js';
import type { HistoryPoint } from '../train/history.js';
import { renderReport } from './report.js';
import { baselineHeadlines } from '../promote/baselines.js';
import { gatherReportData } from './report-data.js';
import { emptyHeartbeat, runOnSlot, startHeartbeats } from '../../activities/trainer/supervise.js';
export { EvaluateParamsSchema, type EvaluateParams } from './params.js';

export interface EvalState {
  task: Task; labels: string[]; maxLength: number; truncation: NonNullable<RunConfigInput['data']['truncation']>; headTokens: number | null;
  runDir: string; beats?: { stop(): void };
}

export const evaluateStep: StepImpl<'evaluate', ResolvedDeps, EvalState> = {
  kind: 'evaluate',
  async plan({ input, params, deps: d, upstream }) {
    const trained = upstream.trained;
    const tm = trained.manifest as Record<string, unknown>;
    const task = normalizeTask(tm.task);
    const labels = tm.labels as string[] | undefined;
    if (!task || !Array.isArray(labels)) throw badInput(`${input.inputs.trained.uri} is not a lakeforge model (its manifest has no task or labels)`);
    const trainedParams = (trained.manifest.params ?? {}) as { maxLength?: number; truncation?: RunConfigInput['data']['truncation']; headTokens?: number | null };
    const maxLength = params.maxLength ?? trainedParams.maxLength ?? 128;
    // The model is scored on what it was trained to see, unless the step asks otherwise.
    const truncation = params.truncation ?? trainedParams.truncation ?? 'head';
    const headTokens = params.headTokens !== undefined ? params.headTokens : (trainedParams.headTokens ?? null);
    const codeVersion = await trainerCodeVersion(d.trainerDir);
    const { graceSeconds: _g, ...versioned } = params;
    const version = stepVersion({
      step: 'evaluate', codeVersion, inputs: [trained.manifest.version, upstream.features.manifest.version], params: { ...versioned, maxLength, truncation, headTokens }, sql: {},
    });
    const runDir = join(d.home, 'runs', `eval-${localKey(trained.manifest.version, upstream.features.manifest.version, process.pid, Date.now())}`);
    return { version, outputs: [lakeJoin(trained.rel, 'eval')], state: { task, labels, maxLength, truncation, headTokens, runDir } };
  },
  compute: computeEvaluate,
  async finish({ state }) {
    state.beats?.stop();
    await rm(state.runDir, { recursive: true, force: true }).catch(() => {});
  },
};

export function evaluate(d: ResolvedDeps, input: StepInput<'evaluate'>): Promise<StepResult> {
  return runStep(evaluateStep, d, input);
}

async function computeEvaluate({ input, params, deps: d, lake, control, upstream, version, workDirs: [workDir], state }: Parameters<StepImpl<'evaluate', ResolvedDeps, EvalState>['compute']>[0]) {
  const { task, labels, maxLength, truncation, headTokens, runDir } = state;
  const attempt = currentContext()?.info.attempt ?? 1;
  const hb = emptyHeartbeat(attempt);
  const beats = startHeartbeats(() => hb, d.heartbeatEveryMs);
  state.beats = beats;
  const trained = upstream.trained;
  const features = upstream.features;
  const model = input.model ?? String((trained.manifest as Record<string, unknown>).model ?? 'model');
  {
    await mkdir(runDir, { recursive: true });
    const splitDir = await stageSplit(lake, control, features.rel, params.split, join(runDir, 'data'));
    if (!splitDir) throw badInput(`features ${input.inputs.features.uri} has no split=${params.split} part files`);
    const modelDir = join(runDir, 'model');
    await stageTree(lake, control, trained.rel, modelDir, { skip: ['eval', '_manifest.json'] });
    // The baselines learn from the same train split as the model (absent: they are skipped, and metrics.json says so).
    const baselinesOn = params.baselines?.enabled !== false;
    const trainDir = baselinesOn ? await stageSplit(lake, control, features.rel, 'train', join(runDir, 'data')) : null;

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

    const done = await runOnSlot(d, { mode: 'evaluate', model, configPath, attempt, graceSeconds: params.graceSeconds, hb, beats });

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
      model, modelVersion: trained.manifest.version, modelRel: trained.rel, modelManifest: trained.manifest, featuresRel: features.rel,
      featuresManifest: features.manifest, predictions: join(workDir, 'predictions.parquet'), task, labels,
    });
    await writeFile(join(workDir, 'report.html'), renderReport({
      model: model, version: trained.manifest.version, task, split: params.split, metrics: body, headline: done.metrics, confusion, history, createdAt, extras,
    }));
    const files = await describeFiles(workDir, async (abs) => (abs.endsWith('.parquet') ? rows : 0));
    return [buildManifest({
      version, step: 'evaluate', inputs: [trained.manifest.version, features.manifest.version], params: { ...params, maxLength, truncation, headTokens }, files,
      schema: [],
      extra: { kind: 'evaluation', model, modelVersion: trained.manifest.version, modelUri: input.inputs.trained.uri, task, split: params.split, metrics: { ...done.metrics, rows }, baselines },
    })];
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

