// Partitioned features (params.partitions): the activities that workflows/partitioned-step.ts fans out.
// Featurizing is per row once the two global parts are fixed: the label map (resolved once by the plan, from the
// parameters, the clean step's declared labels or one pass over the labels present) and the split, a hash of each
// row's key. So each batch of clean files is featurized on its own, by the unchanged features SQL, into
// `split=<s>/part-<batch>.parquet`, and publish lists every part in one manifest of the step's one version.
//   plan     checks the clean input, resolves the parameters, computes the version, answers from the cache;
//   batch    (map, one per batch of clean files) featurizes its files into the work area;
//   publish  gathers the parts (empty ones left out), checks that no row was lost, publishes manifest-last.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { invalidPipeline, invariantViolated } from '../../contracts/failures.js';
import { StepResultSchema, type StepResult } from '../../contracts/step-result.js';
import { datasetName, lakeJoin, type LakeStorage } from '../../activities/lake/index.js';
import { FeaturesParamsSchema, type FeaturesParams } from './params.js';
import { SPLITS, computeFeatures, featuresManifest, featuresVersion, resolveDefaults } from './activity.js';
import { parquetRows, parquetSchema, withConnection, type EtlDeps } from '../../activities/duckdb/files.js';
import { openActivity, resolveInput } from '../../activities/kernel/input.js';
import { cachedResult, describeOutput, publishOutputs, resultOf, withWorkDirs } from '../../activities/kernel/publish.js';
import { stageObjects } from '../../activities/kernel/stage.js';
import { verifyPublished } from '../../activities/lake/index.js';
import { WorkKeySchema, cutBatches, gatherParts, pad, removeTmp, workArea } from '../../activities/kernel/partitions.js';

type Split = (typeof SPLITS)[number];
type SplitCounts = Record<Split, number>;

const Base = z.object({
  lake: z.string().optional(),
  dataset: z.string().min(1),
  /** The clean step's result. */
  input: StepResultSchema,
  params: FeaturesParamsSchema,
});

export const PlanPartitionedFeaturesInputSchema = Base.extend({ workKey: WorkKeySchema }).strict();
export type PlanPartitionedFeaturesInput = z.input<typeof PlanPartitionedFeaturesInputSchema>;

export interface PartitionedFeaturesPlan {
  cached: StepResult | null;
  version: string;
  workRel: string;
  /** The parameters with the label map and the row key resolved once, for every batch. */
  params: FeaturesParams;
  batches: number;
  files: number;
  filesPerTask: number;
  concurrency: number;
  tasksPerWorkflow: number;
}

/** Batches take the resolved parameters: the version is recomputed from them and must be the planned one. */
const WorkInput = Base.extend({ version: z.string().min(1), workRel: z.string().min(1) });

export const FeaturesBatchInputSchema = WorkInput.extend({ batch: z.number().int().min(0), filesPerTask: z.number().int().min(1) }).strict();
export type FeaturesBatchInput = z.input<typeof FeaturesBatchInputSchema>;
export interface FeaturesBatchResult {
  batch: number;
  splits: SplitCounts;
}

export const PublishPartitionedFeaturesInputSchema = WorkInput.extend({
  filesPerTask: z.number().int().min(1),
  batches: z.array(z.object({ batch: z.number().int().min(0), splits: z.object({ train: z.number().int(), val: z.number().int(), test: z.number().int() }) })),
}).strict();
export type PublishPartitionedFeaturesInput = z.input<typeof PublishPartitionedFeaturesInputSchema>;

const partRel = (workRel: string, split: Split, batch: number) => lakeJoin(workRel, `split=${split}`, `part-${pad(batch)}.parquet`);

/** The clean input: a complete publication of the version handed over, and its files as the manifest lists them. */
const cleanInput = (lake: LakeStorage, input: StepResult) => resolveInput(lake, input, 'input');

export async function planPartitionedFeatures(deps: EtlDeps, raw: unknown): Promise<PartitionedFeaturesPlan> {
  const { input, lake, control } = openActivity(deps, PlanPartitionedFeaturesInputSchema, raw, 'partitioned features');
  const partitions = input.params.partitions;
  if (!partitions) throw invalidPipeline('partitioned features needs params.partitions');
  const dataset = datasetName(input.dataset);
  const { manifest, objects } = await cleanInput(lake, input.input);
  // The label map, once for all batches: staging the clean files only when the labels must be read from them.
  const params = await withConnection(deps, (conn) => resolveDefaults(conn, control, input.params, manifest, async () => (await stageObjects(lake, control, objects)).map((f) => f.local)));
  const version = featuresVersion(manifest.version, params);
  const rel = `features/${dataset}/${version}`;
  const cached = await cachedResult(lake, version, [rel]);
  return {
    cached, version, workRel: workArea('features', dataset, version, input.workKey), params,
    batches: cached ? 0 : cutBatches(objects, partitions.filesPerTask).length, files: objects.length,
    filesPerTask: partitions.filesPerTask, concurrency: partitions.concurrency, tasksPerWorkflow: partitions.tasksPerWorkflow,
  };
}

/** Checks a work input against the clean input and the version; returns the clean manifest and its objects. */
async function checkWork(lake: LakeStorage, input: z.infer<typeof WorkInput>) {
  const clean = await cleanInput(lake, input.input);
  const version = featuresVersion(clean.manifest.version, input.params);
  if (version !== input.version) throw invariantViolated(`features parameters give version ${version}, not the planned ${input.version}`);
  return clean;
}

/** Map: one batch of clean files → split=<s>/part-<batch>.parquet for every split, in the work area. */
export async function featuresBatch(deps: EtlDeps, raw: unknown): Promise<FeaturesBatchResult> {
  const { input, lake, control } = openActivity(deps, FeaturesBatchInputSchema, raw, 'features batch');
  const { objects } = await checkWork(lake, input);
  const planned = cutBatches(objects, input.filesPerTask)[input.batch];
  if (!planned) throw invalidPipeline(`batch ${input.batch} is not in the plan`);
  const files = await stageObjects(lake, control, planned, { exact: true });
  const tmp = await mkdtemp(join(tmpdir(), 'lakeforge-features-'));
  try {
    const { splits } = await withConnection(deps, (conn) => computeFeatures(conn, control, input.params, files, tmp));
    for (const split of SPLITS) {
      await lake.putFile(join(tmp, `split=${split}`, 'part-0.parquet'), partRel(input.workRel, split, input.batch));
    }
    return { batch: input.batch, splits };
  } finally {
    await removeTmp(tmp);
  }
}

/** Gathers every batch's non-empty parts into the step's version, publishes it manifest-last, drops the work area. */
export async function publishPartitionedFeatures(deps: EtlDeps, raw: unknown): Promise<StepResult> {
  const { input, lake, control } = openActivity(deps, PublishPartitionedFeaturesInputSchema, raw, 'features publish');
  const dataset = datasetName(input.dataset);
  const { manifest: clean, objects } = await checkWork(lake, input);
  const rel = `features/${dataset}/${input.version}`;
  const existing = await verifyPublished(lake, rel, input.version);
  if (existing.ok) {
    await lake.removePrefix(input.workRel);
    return resultOf(lake, rel, existing.manifest, false);
  }
  // Every batch of the plan, each once.
  const expected = cutBatches(objects, input.filesPerTask).length;
  const seen = new Set(input.batches.map((b) => b.batch));
  if (input.batches.length !== expected || seen.size !== expected || [...seen].some((b) => b >= expected)) {
    throw invariantViolated(`publish got results of batches ${[...seen].join(',')}, the plan has ${expected}`);
  }
  const splits: SplitCounts = { train: 0, val: 0, test: 0 };
  const parts: { from: string; to: string }[] = [];
  for (const split of SPLITS) {
    const filled = input.batches.filter((b) => b.splits[split] > 0);
    // A split with no rows at all keeps one empty part, as the single-activity step writes one.
    for (const b of filled.length ? filled : [input.batches[0]]) {
      parts.push({ from: partRel(input.workRel, split, b.batch), to: `split=${split}/part-${pad(b.batch)}.parquet` });
      splits[split] += b.splits[split];
    }
  }
  const result = await withWorkDirs(lake, [rel], async ([workDir]) => {
    await gatherParts(lake, control, workDir, parts);
    const total = splits.train + splits.val + splits.test;
    if (total !== clean.rows) throw invariantViolated(`features lost rows: clean has ${clean.rows}, featurized ${total}`);
    const { written, schema } = await withConnection(deps, async (conn) => ({
      written: await describeOutput(workDir, (p) => parquetRows(conn, control, p), { rows: total, what: 'partitioned features' }),
      schema: await parquetSchema(conn, control, join(workDir, parts[0].to)),
    }));
    const manifest = featuresManifest({ version: input.version, dataset, params: input.params, input: clean.version, files: written, schema, splits });
    return publishOutputs(lake, control, [{ workDir, rel, manifest }]);
  });
  await lake.removePrefix(input.workRel);
  return result;
}
