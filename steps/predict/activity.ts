// predict: a model over every row of an upstream output → predictions/<dataset>/<version>/part-*.parquet, through the
// kernel. The model is the champion of `with.model` (or `name@version`), resolved when the step plans: the version
// hashes the input's version and the model's, so a new champion re-scores and an unchanged one is a cache hit.
// Finished parts are mirrored to _work/predict/<version>/ as the trainer writes them, and restored on a retry, so a
// killed worker's successor scores only the parts that were not done.
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput, driftExceeded, invalidPipeline, invariantViolated } from '../../contracts/failures.js';
import type { StepInput } from '../../contracts/step-input.js';
import type { StepResult } from '../../contracts/step-result.js';
import { buildManifest, describeFiles, lakeJoin, readManifest, datasetName, type LakeStorage, type Manifest } from '../../activities/lake/index.js';
import { RunConfigSchema, type RunConfigInput } from '../../contracts/trainer-protocol.js';
import { trainerCodeVersion, type ResolvedDeps } from '../../activities/trainer/deps.js';
import { normalizeTask } from '../../activities/trainer/features-meta.js';
import { currentContext } from '../../activities/kernel/context.js';
import { planStep, runStep, type StepImpl } from '../../activities/kernel/lifecycle.js';
import { stageSplit, stageTree } from '../../activities/kernel/stage.js';
import { localKey, stepVersion } from '../../activities/kernel/version.js';
import { emptyHeartbeat, runOnSlot, startHeartbeats } from '../../activities/trainer/supervise.js';
import { readChampion } from '../promote/activity.js';
import { computeDrift, type Drift } from './drift.js';
import { renderPredictReport } from './report.js';
export { PredictParamsSchema, type PredictParams } from './params.js';

export interface PredictState {
  model: string; modelVersion: string; modelRel: string; modelManifest: Manifest; labels: string[];
  keyColumns: string[]; scratch: string; runDir: string; beats?: { stop(): void };
}

/** `name` → its champion's version; `name@version` → that version, which must be published. */
async function resolveModel(lake: LakeStorage, ref: string): Promise<{ model: string; version: string; rel: string; manifest: Manifest }> {
  const [model, pinned] = ref.split('@');
  const version = pinned ?? (await readChampion(lake, model))?.version;
  if (!version) throw badInput(`with.model: model ${model} has no champion in ${lake.uri(lakeJoin('models', model, 'champion.json'))}; promote one first, or name a version (${model}@<version>)`, { field: 'with.model' });
  const rel = lakeJoin('models', model, version);
  const manifest = await readManifest(lake, rel);
  if (!manifest) throw badInput(`with.model: ${ref}: no published model at ${lake.uri(rel)}`, { field: 'with.model' });
  return { model, version, rel, manifest };
}

export const predictStep: StepImpl<'predict', ResolvedDeps, PredictState> = {
  kind: 'predict',
  async plan({ input, params, deps: d, lake, upstream }) {
    const m = await resolveModel(lake, params.model);
    const mm = m.manifest as Record<string, unknown>;
    const task = normalizeTask(mm.task);
    const labels = mm.labels as string[] | undefined;
    if (task !== 'sequence-classification' || !Array.isArray(labels)) {
      throw badInput(`with.model: ${m.model}@${m.version} is not a lakeforge sequence-classification model (its manifest's task is ${JSON.stringify(mm.task)})`, { field: 'with.model' });
    }
    const source = upstream.input.manifest;
    const columns = new Set((source.schema ?? []).map((c) => c.name));
    const keyColumns = params.keyColumns ?? ['row_key'];
    for (const [field, cols] of [['with.keyColumns', keyColumns], ['with.textColumn', [params.textColumn]]] as const) {
      const missing = columns.size > 0 ? cols.filter((c) => !columns.has(c)) : [];
      if (missing.length) throw badInput(`${field}: ${input.inputs.input.uri} has no column ${missing.join(', ')} (columns: ${[...columns].join(', ')})`, { field });
    }
    const codeVersion = await trainerCodeVersion(d.trainerDir);
    // Operational settings are not part of what is computed: the same rows and model give the same predictions.
    const { graceSeconds: _g, batchSize: _b, maxDrift: _m, shards: _s, ...versioned } = params;
    const version = stepVersion({ step: 'predict', codeVersion, inputs: [source.version, m.version], params: { ...versioned, model: m.model, keyColumns }, sql: {} });
    const runDir = join(d.home, 'runs', `predict-${localKey(version, process.pid, Date.now())}`);
    return {
      version,
      outputs: [lakeJoin('predictions', datasetName(input.dataset), version)],
      state: { model: m.model, modelVersion: m.version, modelRel: m.rel, modelManifest: m.manifest, labels, keyColumns, scratch: lakeJoin('_work', 'predict', version), runDir },
    };
  },
  compute: computePredict,
  async finish({ lake, state }, outcome) {
    state.beats?.stop();
    await rm(state.runDir, { recursive: true, force: true }).catch(() => {});
    // Published: the mirrored parts are in the publication now. Failed: they stay for the retry to resume from.
    if (outcome.published) await lake.removePrefix(state.scratch).catch(() => {});
  },
};

export function predict(d: ResolvedDeps, input: StepInput<'predict'>): Promise<StepResult> {
  return runStep(predictStep, d, input);
}

type PredictContext = Omit<Parameters<StepImpl<'predict', ResolvedDeps, PredictState>['compute']>[0], 'version' | 'outputs' | 'workDirs'>;

/**
 * Scores the parts not yet in `_work/predict/<version>/` into `outDir` (all of them, or one shard's), mirroring each
 * finished part to the lake as it appears. Returns the parts restored from an earlier attempt.
 */
async function scoreParts({ params, deps: d, lake, control, upstream, state }: PredictContext, outDir: string, shard = { index: 0, count: 1 }) {
  const attempt = currentContext()?.info.attempt ?? 1;
  const hb = { ...emptyHeartbeat(attempt), rows_scored: 0 };
  const beats = startHeartbeats(() => hb, d.heartbeatEveryMs);
  state.beats = beats;
  const { runDir, scratch, labels } = state;
  await mkdir(runDir, { recursive: true });
  const inputDir = join(runDir, 'input');
  await stageTree(lake, control, upstream.input.rel, inputDir, { match: /\.parquet$/ });
  const modelDir = join(runDir, 'model');
  await stageTree(lake, control, state.modelRel, modelDir, { skip: ['eval', '_manifest.json'] });
  // Parts an earlier attempt finished: copied into the work directory (real files, it is published), not scored again.
  const mine = (path: string) => Number(/part-(\d+)\.parquet$/.exec(path)?.[1] ?? -1) % shard.count === shard.index;
  const restored = (await lake.list(scratch)).filter((o) => /\/part-\d+\.parquet$/.test(o.path) && mine(o.path));
  await mkdir(outDir, { recursive: true });
  for (const o of restored) await lake.copyToLocal(o, join(outDir, o.path.split('/').pop()!));
  const trainedParams = (state.modelManifest.params ?? {}) as { maxLength?: number; truncation?: RunConfigInput['data']['truncation']; headTokens?: number | null };
  const run: RunConfigInput = {
    task: 'sequence-classification',
    model: { name_or_path: modelDir },
    tokenizer: { type: 'pretrained', name_or_path: modelDir },
    // The model sees what it was trained to see: its own max length and truncation.
    data: { text_column: params.textColumn, max_length: trainedParams.maxLength ?? 128, truncation: trainedParams.truncation ?? 'head', head_tokens: trainedParams.headTokens ?? null, chunks: params.chunks ?? null },
    labels,
    // bf16 autocast is applied on CUDA only (CPU scores in fp32, as it trains).
    hparams: { bf16: params.bf16, ...(params.batchSize ? { eval_batch_size: params.batchSize } : {}) },
    output_dir: outDir,
    predict: { input_dir: inputDir, key_columns: state.keyColumns, top_k: params.topK, part_rows: params.partRows, shard_index: shard.index, shard_count: shard.count },
  };
  const checked = RunConfigSchema.safeParse(run);
  if (!checked.success) throw invalidPipeline(`predict: the run config is invalid: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const configPath = join(runDir, 'run.json');
  await writeFile(configPath, JSON.stringify(run, null, 2));

  // Mirror each finished part to the lake as it appears (the trainer renames a part into place only when whole).
  const mirrored = new Set(restored.map((o) => o.path.split('/').pop()!));
  const mirror = async () => {
    for (const name of (await readdir(outDir)).filter((n) => /^part-\d+\.parquet$/.test(n) && !mirrored.has(n)).sort()) {
      await lake.putFile(join(outDir, name), lakeJoin(scratch, name));
      mirrored.add(name);
      hb.rows_scored = mirrored.size * params.partRows;
    }
    beats.beat();
  };
  let mirroring = Promise.resolve();
  const timer = setInterval(() => { mirroring = mirroring.then(mirror).catch(() => {}); }, 1000);
  try {
    await runOnSlot(d, { mode: 'predict', model: state.model, configPath, attempt, graceSeconds: params.graceSeconds, hb, beats });
  } finally {
    clearInterval(timer);
    // Whatever was finished is kept for a retry, even when this attempt was stopped or crashed.
    await mirroring;
    await mirror().catch(() => {});
  }
  return { restored: restored.length };
}

async function computePredict(c: Parameters<StepImpl<'predict', ResolvedDeps, PredictState>['compute']>[0]) {
  const { input, params, lake, control, upstream, version, workDirs: [workDir], state } = c;
  const { runDir, labels } = state;
  // Everything a shard (or an earlier attempt) finished is restored; this scores only what is left.
  const restored = (await scoreParts(c, workDir)).restored;
  const partsGlob = join(workDir, 'part-*.parquet');
  const partRows = (await readdir(workDir)).some((n) => /^part-\d+\.parquet$/.test(n)) ? await partRowCounts(partsGlob) : new Map<string, number>();
  const rows = [...partRows.values()].reduce((s, n) => s + n, 0);
  // Every input row scored once: the parts together must hold exactly the input's rows.
  if (rows !== upstream.input.manifest.rows) {
    throw invariantViolated(`predict: the parts (${[...partRows].map(([f, n]) => `${f.split('/').pop()}: ${n}`).join(', ') || 'none'}) hold ${rows} rows, the input ${input.inputs.input.uri} has ${upstream.input.manifest.rows}`);
  }
  const evalRel = lakeJoin(state.modelRel, 'eval');
  const refDir = join(runDir, 'reference');
  const ref = await stageTree(lake, control, evalRel, refDir, { match: /predictions\.parquet$/ }).catch(() => []);
  // Text lengths against what the model was trained on: its features' train split, when it is still in the lake.
  const featuresUri = (state.modelManifest as Record<string, unknown>).features;
  const trainDir = ref.length && typeof featuresUri === 'string'
    ? await stageSplit(lake, control, lake.relative(featuresUri.replace(/\/$/, '')), 'train', join(runDir, 'train')).catch(() => null)
    : null;
  const drift: Drift | null = ref.length ? await computeDrift(partsGlob, ref[0].local, labels, trainDir ? join(trainDir, '*.parquet') : undefined) : null;
  if (drift && params.maxDrift !== undefined) {
    const over = (['labelPsi', 'confidencePsi', 'lengthPsi'] as const).filter((k) => drift[k] > params.maxDrift!);
    if (over.length) {
      throw driftExceeded(`predict ${state.model}@${state.modelVersion}: ${over.map((k) => `${k} ${drift[k].toFixed(3)}`).join(', ')} above with.maxDrift ${params.maxDrift} ` +
        `(against the model's evaluation split ${lake.uri(evalRel)}); nothing was published. Look at the input, retrain on it, or raise maxDrift`,
      { drift, field: 'with.maxDrift' });
    }
  }
  await writeFile(join(workDir, 'report.html'), renderPredictReport({
    model: state.model, modelVersion: state.modelVersion, version, dataset: input.dataset, rows, resumedParts: restored,
    drift, reference: drift ? lake.uri(evalRel) : null, maxDrift: params.maxDrift, createdAt: new Date().toISOString(),
  }));
  const schema = [
    ...state.keyColumns.map((name) => ({ name, type: (upstream.input.manifest.schema ?? []).find((c) => c.name === name)?.type ?? 'VARCHAR' })),
    { name: 'prediction', type: 'VARCHAR' }, { name: 'score', type: 'FLOAT' }, { name: 'top_labels', type: 'VARCHAR[]' },
    { name: 'top_scores', type: 'FLOAT[]' }, { name: 'text_length', type: 'INTEGER' },
  ];
  const files = await describeFiles(workDir, async (abs) => partRows.get(abs) ?? 0);
  const metrics: Record<string, number> = { rows, resumed_parts: restored };
  if (drift) Object.assign(metrics, { drift_label_psi: drift.labelPsi, drift_confidence_psi: drift.confidencePsi, drift_length_psi: drift.lengthPsi, mean_confidence: drift.meanConfidence });
  return [buildManifest({
    version, step: input.step, inputs: [upstream.input.manifest.version, state.modelVersion], params: { ...params, keyColumns: state.keyColumns }, files, schema,
    extra: { kind: 'predictions', model: state.model, modelVersion: state.modelVersion, modelUri: lake.uri(state.modelRel), metrics, drift, driftReference: drift ? lake.uri(evalRel) : null },
  })];
}

export interface PredictShardInput { input: StepInput<'predict'>; shard: { index: number; count: number } }

/**
 * One shard of a sharded predict step (workflows/sharded-predict.ts): the step's own plan and version, the parts
 * whose index ≡ shard.index (mod shard.count) scored and mirrored to the lake, nothing published; the step's
 * predict activity then publishes from them.
 */
export function predictShardActivity(d: ResolvedDeps) {
  return async ({ input, shard }: PredictShardInput): Promise<{ cached: boolean; restored: number }> => {
    if (!Number.isInteger(shard?.index) || !Number.isInteger(shard?.count) || shard.index < 0 || shard.index >= shard.count) {
      throw invalidPipeline(`predictShard: bad shard ${JSON.stringify(shard)}`);
    }
    const { c, plan, hit } = await planStep(predictStep, d, input);
    if (hit || 'result' in plan) return { cached: true, restored: 0 };
    try {
      return { cached: false, ...(await scoreParts({ ...c, state: plan.state }, join(plan.state.runDir, 'out'), shard)) };
    } finally {
      await predictStep.finish!({ ...c, state: plan.state }, { published: false });
    }
  };
}

/** Rows per part file (absolute path), in one DuckDB scan of their footers. */
async function partRowCounts(glob: string): Promise<Map<string, number>> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:');
  try {
    const conn = await db.connect();
    const rows = (await conn.runAndReadAll('SELECT filename, count(*)::BIGINT FROM read_parquet($glob, filename = true) GROUP BY filename', { glob })).getRows();
    conn.closeSync();
    return new Map(rows.map(([f, n]) => [String(f), Number(n)]));
  } finally {
    db.closeSync();
  }
}
