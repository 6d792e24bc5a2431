// Partitioned cleaning (params.partitions): the activities that workflows/partitioned-step.ts fans out.
//   plan     lists the raw files, computes the step's version, answers from the cache, or writes the batch plan
//            (`plan.json`: each batch's objects with their generations) into the work area;
//   shuffle  (map, one per batch) checks the batch's schema, applies coercion, normalisation and null fills to find
//            each row's deduplication identity, and writes the batch's raw rows into one file per hash bucket of
//            that identity, in input order; with IQR outlier rules it also writes the batch's IQR inputs;
//   fences   (only with IQR rules) the quartiles over every batch's IQR inputs: the whole dataset's Tukey fences;
//   reduce   (one per bucket) runs the whole clean SQL over that bucket's files with those fences: every duplicate of
//            a row is in its bucket, so deduplication is exact, and the bucket's files in batch order keep the
//            input order that tie-breaks depend on;
//   publish  gathers the buckets' outputs into the step's one version (one part per bucket), checks conservation,
//            publishes rejects then clean, manifests last, and drops the work area.
// Rows, rejects (raw values and reasons) and counts are the single-activity clean's; only the file layout differs.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { badInput, invalidPipeline, invariantViolated } from '../../contracts/failures.js';
import { classifyDuckdbError } from '../../activities/duckdb/errors.js';
import type { StepResult } from '../../contracts/step-result.js';
import { datasetName, lakeJoin, type ObjectInfo } from '../../activities/lake/index.js';
import { quoteLiteral } from '../../activities/duckdb/sql.js';
import { queryRows, runStatement } from '../../activities/duckdb/run.js';
import { CleanParamsSchema, type CleanParams } from './params.js';
import {
  buildCleanSql, checkCleanInput, cleanManifests, cleanVersion, computeClean, describeClean, iqrFences, paramsFor, rawObjects,
  type CleanOutcome, type IqrFences,
} from './activity.js';
import { varcharList, withConnection, type EtlDeps } from '../../activities/duckdb/files.js';
import { openActivity, openStepLake, parseInput } from '../../activities/kernel/input.js';
import { cachedResult, publishOutputs, withWorkDirs } from '../../activities/kernel/publish.js';
import { stageObjects } from '../../activities/kernel/stage.js';
import { WorkKeySchema, cutBatches, gatherParts, pad, removeTmp, workArea } from '../../activities/kernel/partitions.js';

const Base = z.object({ lake: z.string().optional(), dataset: z.string().min(1), params: CleanParamsSchema });

export const PlanPartitionedCleanInputSchema = Base.extend({ workKey: WorkKeySchema }).strict();
export type PlanPartitionedCleanInput = z.input<typeof PlanPartitionedCleanInputSchema>;

export interface PartitionedCleanPlan {
  /** Set when this version is already published: nothing else to do. */
  cached: StepResult | null;
  version: string;
  workRel: string;
  /** How many batches of raw files (map tasks) the plan in `<workRel>/plan.json` holds, and files in all. */
  batches: number;
  files: number;
  filesPerTask: number;
  buckets: number;
  concurrency: number;
  tasksPerWorkflow: number;
  /** The params have IQR outlier rules: the fences are computed between map and reduce. */
  iqr: boolean;
}

/** `<workRel>/plan.json`: what each map task reads, so no file list travels through workflow histories. */
interface BatchPlan {
  version: string;
  batches: ObjectInfo[][];
}

const WorkInput = Base.extend({ version: z.string().min(1), workRel: z.string().min(1) });

export const ShuffleCleanBatchInputSchema = WorkInput.extend({ batch: z.number().int().min(0), buckets: z.number().int().min(1) }).strict();
export type ShuffleCleanBatchInput = z.input<typeof ShuffleCleanBatchInputSchema>;
export interface ShuffleCleanBatchResult {
  batch: number;
  rows: number;
  buckets: number[];
}

export const CleanFencesInputSchema = WorkInput.extend({ batches: z.number().int().min(1) }).strict();
export type CleanFencesInput = z.input<typeof CleanFencesInputSchema>;

const FencesSchema = z.record(z.string(), z.tuple([z.number(), z.number()]));
export const CleanBucketInputSchema = WorkInput.extend({ bucket: z.number().int().min(0), fences: FencesSchema.optional() }).strict();
export type CleanBucketInput = z.input<typeof CleanBucketInputSchema>;

export interface CleanBucketResult extends CleanOutcome {
  bucket: number;
}

export const PublishPartitionedCleanInputSchema = WorkInput.extend({
  buckets: z.array(z.object({ bucket: z.number().int(), rowsIn: z.number().int(), rowsClean: z.number().int(), rowsRejected: z.number().int(), reasons: z.record(z.string(), z.number()) })),
}).strict();
export type PublishPartitionedCleanInput = z.input<typeof PublishPartitionedCleanInputSchema>;

const planRel = (workRel: string) => lakeJoin(workRel, 'plan.json');
const shuffleRel = (workRel: string, bucket: number, batch: number) => lakeJoin(workRel, 'shuffle', `bucket-${pad(bucket)}`, `batch-${pad(batch)}.parquet`);
const iqrRel = (workRel: string, batch: number) => lakeJoin(workRel, 'iqr', `batch-${pad(batch)}.parquet`);
const outRel = (workRel: string, bucket: number, which: 'clean' | 'rejects') => lakeJoin(workRel, 'out', `bucket-${pad(bucket)}`, `${which}.parquet`);
const hasIqr = (params: CleanParams) => params.outliers.some((o) => o.method === 'iqr');

function requirePartitions(params: CleanParams) {
  if (!params.partitions) throw invalidPipeline('partitioned clean needs params.partitions');
  return params.partitions;
}

export async function planPartitionedClean(deps: EtlDeps, raw: unknown): Promise<PartitionedCleanPlan> {
  const input = parseInput(PlanPartitionedCleanInputSchema, raw, 'partitioned clean');
  const partitions = requirePartitions(input.params);
  const dataset = datasetName(input.dataset);
  const lake = openStepLake(deps, input.lake);
  const objects = await rawObjects(lake, dataset);
  const { version, cleanRel, rejectsRel } = cleanVersion(dataset, objects, input.params);
  const workRel = workArea('clean', dataset, version, input.workKey);
  const cached = await cachedResult(lake, version, [rejectsRel, cleanRel]);
  const batches = cutBatches(objects, partitions.filesPerTask);
  if (!cached) await lake.writeText(planRel(workRel), JSON.stringify({ version, batches } satisfies BatchPlan));
  return {
    cached, version, workRel, batches: cached ? 0 : batches.length, files: objects.length, filesPerTask: partitions.filesPerTask,
    buckets: partitions.buckets, concurrency: partitions.concurrency, tasksPerWorkflow: partitions.tasksPerWorkflow, iqr: hasIqr(input.params),
  };
}

async function readPlan(lake: ReturnType<typeof openStepLake>, workRel: string, version: string): Promise<BatchPlan> {
  const text = await lake.readText(planRel(workRel));
  const plan = text ? (JSON.parse(text) as BatchPlan) : null;
  if (!plan || plan.version !== version) throw invariantViolated(`the batch plan of ${lake.uri(workRel)} is missing or not of version ${version}`);
  return plan;
}

/** Map: one batch of raw files → one file per non-empty bucket under the work area (and its IQR inputs). */
export async function shuffleCleanBatch(deps: EtlDeps, raw: unknown): Promise<ShuffleCleanBatchResult> {
  const { input, lake, control } = openActivity(deps, ShuffleCleanBatchInputSchema, raw, 'clean shuffle');
  const plan = await readPlan(lake, input.workRel, input.version);
  const planned = plan.batches[input.batch];
  if (!planned) throw invalidPipeline(`batch ${input.batch} is not in the plan (${plan.batches.length} batches)`);
  const files = await stageObjects(lake, control, planned, { exact: true });
  const tmp = await mkdtemp(join(tmpdir(), 'lakeforge-shuffle-'));
  try {
    const written = await withConnection(deps, async (conn) => {
      const inspected = await checkCleanInput(conn, control, files, input.params);
      const locals = files.map((f) => f.local);
      const unified = await queryRows(conn, control, 'inspect', 'DESCRIBE SELECT * FROM read_parquet($files, union_by_name = true)', { files: varcharList(locals) });
      const present = new Map(unified.map((d) => [String(d.column_name).toLowerCase(), String(d.column_type)]));
      const sql = buildCleanSql(input.params, present, locals, '', '');
      await runStatement(conn, control, 'macro', sql.macro);
      const shuffle = sql.shuffle(input.buckets);
      const iqrValues = sql.iqrValues(join(tmp, 'iqr.parquet'));
      try {
        await runStatement(conn, control, 'shuffle', shuffle, paramsFor(shuffle, sql.params));
        if (iqrValues) await runStatement(conn, control, 'iqr-values', iqrValues, paramsFor(iqrValues, sql.params));
      } catch (err) {
        throw await classifyDuckdbError(err, files, conn, 'shuffling');
      }
      const counts = await queryRows(conn, control, 'shuffle', 'SELECT __bucket AS b, count(*) AS n FROM shuffled GROUP BY ALL ORDER BY b');
      const total = counts.reduce((s, r) => s + Number(r.n), 0);
      const expected = inspected.reduce((s, f) => s + f.rows, 0);
      if (total !== expected) throw invariantViolated(`conservation violated in batch ${input.batch}: ${expected} rows read, ${total} shuffled`);
      const buckets: number[] = [];
      for (const r of counts) {
        const b = Number(r.b);
        // Input order within the bucket (ORDER BY __rid), raw columns only.
        await runStatement(conn, control, 'shuffle-write',
          `COPY (SELECT * EXCLUDE (__rid, __bucket) FROM shuffled WHERE __bucket = ${b} ORDER BY __rid) TO ${quoteLiteral(join(tmp, `bucket-${pad(b)}.parquet`))} (FORMAT parquet, COMPRESSION zstd)`);
        buckets.push(b);
      }
      await runStatement(conn, control, 'cleanup', 'DROP TABLE IF EXISTS shuffled');
      return { total, buckets, iqr: !!iqrValues };
    });
    for (const b of written.buckets) {
      await lake.putFile(join(tmp, `bucket-${pad(b)}.parquet`), shuffleRel(input.workRel, b, input.batch));
      control.heartbeat({ stage: 'upload', bucket: b });
    }
    if (written.iqr) await lake.putFile(join(tmp, 'iqr.parquet'), iqrRel(input.workRel, input.batch));
    return { batch: input.batch, rows: written.total, buckets: written.buckets };
  } finally {
    await removeTmp(tmp);
  }
}

/** The IQR outlier rules' Tukey fences over the whole dataset: 51_iqr_bounds.sql over every batch's IQR inputs. */
export async function cleanFences(deps: EtlDeps, raw: unknown): Promise<IqrFences> {
  const { input, lake, control } = openActivity(deps, CleanFencesInputSchema, raw, 'clean fences');
  const objects = (await lake.list(lakeJoin(input.workRel, 'iqr'))).filter((o) => o.path.endsWith('.parquet'));
  if (objects.length !== input.batches) throw invariantViolated(`IQR inputs of ${objects.length} of ${input.batches} batches in ${lake.uri(input.workRel)}`);
  const locals: string[] = [];
  for (const o of objects) locals.push(await lake.stage(o));
  const sql = buildCleanSql(input.params, new Map(), locals, '', '').iqrOverValues;
  if (!sql) return {};
  const [row] = await withConnection(deps, (conn) => queryRows(conn, control, 'iqr', sql, { files: varcharList(locals) }));
  return iqrFences(input.params, row);
}

/** Reduce: the whole clean over one bucket's shuffled files; outputs go to the work area. */
export async function cleanBucket(deps: EtlDeps, raw: unknown): Promise<CleanBucketResult> {
  const { input, lake, control } = openActivity(deps, CleanBucketInputSchema, raw, 'clean bucket');
  if (hasIqr(input.params) && !input.fences) throw invalidPipeline('a bucket of a clean with IQR outlier rules needs the fences');
  const prefix = lakeJoin(input.workRel, 'shuffle', `bucket-${pad(input.bucket)}`);
  // Sorted by path, i.e. by batch: the input order.
  const objects = (await lake.list(prefix)).filter((o) => o.path.endsWith('.parquet'));
  if (objects.length === 0) return { bucket: input.bucket, rowsIn: 0, rowsClean: 0, rowsRejected: 0, reasons: {} };
  const files: { local: string; uri: string; size: number }[] = [];
  for (const o of objects) {
    files.push({ local: await lake.stage(o), uri: lake.uri(o.path), size: o.size });
    control.heartbeat({ stage: 'stage-input', staged: files.length, files: objects.length });
  }
  const tmp = await mkdtemp(join(tmpdir(), 'lakeforge-bucket-'));
  try {
    const outcome = await withConnection(deps, (conn) =>
      computeClean(conn, control, files, input.params, join(tmp, 'clean.parquet'), join(tmp, 'rejects.parquet'), input.fences));
    await lake.putFile(join(tmp, 'clean.parquet'), outRel(input.workRel, input.bucket, 'clean'));
    await lake.putFile(join(tmp, 'rejects.parquet'), outRel(input.workRel, input.bucket, 'rejects'));
    return { bucket: input.bucket, ...outcome };
  } finally {
    await removeTmp(tmp);
  }
}

/** Gathers every bucket's outputs into the step's version (one part per bucket), publishes, drops the work area. */
export async function publishPartitionedClean(deps: EtlDeps, raw: unknown): Promise<StepResult> {
  const { input, lake, control } = openActivity(deps, PublishPartitionedCleanInputSchema, raw, 'clean publish');
  const dataset = datasetName(input.dataset);
  const objects = await rawObjects(lake, dataset);
  const { inputVersion, version, cleanRel, rejectsRel } = cleanVersion(dataset, objects, input.params);
  if (version !== input.version) {
    throw badInput(`raw/${dataset} changed while the step ran (version ${input.version} planned, ${version} now): re-run the step`, { dataset });
  }
  const cached = await cachedResult(lake, version, [rejectsRel, cleanRel]);
  if (cached) {
    await lake.removePrefix(input.workRel);
    return { ...cached, cached: false };
  }
  const outcome: CleanOutcome = { rowsIn: 0, rowsClean: 0, rowsRejected: 0, reasons: {} };
  for (const b of input.buckets) {
    outcome.rowsIn += b.rowsIn;
    outcome.rowsClean += b.rowsClean;
    outcome.rowsRejected += b.rowsRejected;
    for (const [r, n] of Object.entries(b.reasons)) outcome.reasons[r] = (outcome.reasons[r] ?? 0) + n;
  }
  // Reasons in a stable order (the single activity reports them sorted, from 90_counts.sql).
  outcome.reasons = Object.fromEntries(Object.entries(outcome.reasons).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const result = await withWorkDirs(lake, [rejectsRel, cleanRel], async ([rejectsDir, cleanDir]) => {
    const filled = input.buckets.filter((x) => x.rowsIn > 0);
    if (filled.length === 0) throw badInput(`the input has no rows (${objects.length} file(s), all empty)`);
    await gatherParts(lake, control, cleanDir, filled.map((b) => ({ from: outRel(input.workRel, b.bucket, 'clean'), to: `part-${pad(b.bucket)}.parquet` })));
    await gatherParts(lake, control, rejectsDir, filled.map((b) => ({ from: outRel(input.workRel, b.bucket, 'rejects'), to: `part-${pad(b.bucket)}.parquet` })));
    const described = await withConnection(deps, (conn) => describeClean(conn, control, cleanDir, rejectsDir));
    const [rejectsManifest, cleanManifest] = cleanManifests(lake, { dataset, params: input.params, version, inputVersion, cleanRel, rejectsRel, outcome, ...described });
    return publishOutputs(lake, control, [{ workDir: rejectsDir, rel: rejectsRel, manifest: rejectsManifest }, { workDir: cleanDir, rel: cleanRel, manifest: cleanManifest }]);
  });
  await lake.removePrefix(input.workRel);
  return result;
}
