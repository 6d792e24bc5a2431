// Partitioned cleaning (params.partitions): the activities that workflows/partitioned-clean.ts fans out.
//   plan    lists the raw files, computes the step's version, answers from the cache or cuts the files into batches;
//   shuffle (one per batch) checks the batch's schema, applies coercion and null fills to find each row's
//           deduplication identity, and writes the batch's raw rows into one file per bucket, in input order;
//   reduce  (one per bucket) runs the whole clean over that bucket's files: every duplicate of a row is in its bucket,
//           so deduplication is exact, and the bucket's files in batch order keep the input order for tie-breaks;
//   publish gathers the buckets' outputs into the step's one version, checks conservation, publishes manifest-last.
// Intermediate files live under `_work/clean/<dataset>/<version>/<workKey>/` in the lake at deterministic paths, so
// a retried activity overwrites exactly what its failed attempt may have left, and other workers can read them.
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { badInput, invalidPipeline } from '../common/failures.js';
import type { StepResult } from '../common/step-result.js';
import { datasetName, describeFiles, lakeJoin, type LakeStorage } from '../lake/index.js';
import { quoteLiteral } from '../duckdb/sql.js';
import { currentControl, queryRows, runStatement } from '../duckdb/run.js';
import { CleanParamsSchema, type CleanParams } from './params.js';
import { buildCleanSql, checkCleanInput, cleanVersion, computeClean, paramsFor, publishClean, publishedClean, type CleanOutcome, type StagedFile } from './clean.js';
import { mapReadError, openStepLake, parquetRows, parquetSchema, parseInput, varcharList, withConnection, type EtlDeps } from './common.js';

const Base = z.object({ lake: z.string().optional(), dataset: z.string().min(1), params: CleanParamsSchema }).strict();

export const PlanPartitionedCleanInputSchema = Base.extend({ workKey: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/) }).strict();
export type PlanPartitionedCleanInput = z.input<typeof PlanPartitionedCleanInputSchema>;

export interface PartitionedCleanPlan {
  /** Set when this version is already published: nothing else to do. */
  cached: StepResult | null;
  version: string;
  /** Lake-relative raw object paths, in input order, cut into batches of `filesPerTask`. */
  batches: string[][];
  buckets: number;
  concurrency: number;
  workRel: string;
}

const WorkInput = z.object({ lake: z.string().optional(), dataset: z.string().min(1), params: CleanParamsSchema, version: z.string().min(1), workRel: z.string().min(1) });

export const ShuffleCleanBatchInputSchema = WorkInput.extend({ batch: z.number().int().min(0), files: z.array(z.string().min(1)).min(1), buckets: z.number().int().min(1) }).strict();
export type ShuffleCleanBatchInput = z.input<typeof ShuffleCleanBatchInputSchema>;

export const CleanBucketInputSchema = WorkInput.extend({ bucket: z.number().int().min(0) }).strict();
export type CleanBucketInput = z.input<typeof CleanBucketInputSchema>;

export interface CleanBucketResult extends CleanOutcome {
  bucket: number;
}

export const PublishPartitionedCleanInputSchema = WorkInput.extend({
  buckets: z.array(z.object({ bucket: z.number().int(), rowsIn: z.number().int(), rowsClean: z.number().int(), rowsRejected: z.number().int(), reasons: z.record(z.string(), z.number()) })),
}).strict();
export type PublishPartitionedCleanInput = z.input<typeof PublishPartitionedCleanInputSchema>;

const pad = (n: number) => String(n).padStart(5, '0');
const shuffleRel = (workRel: string, bucket: number, batch: number) => lakeJoin(workRel, 'shuffle', `bucket-${pad(bucket)}`, `batch-${pad(batch)}.parquet`);
const outRel = (workRel: string, bucket: number, which: 'clean' | 'rejects') => lakeJoin(workRel, 'out', `bucket-${pad(bucket)}`, `${which}.parquet`);

function requirePartitions(params: CleanParams) {
  if (!params.partitions) throw invalidPipeline('partitioned clean needs params.partitions');
  return params.partitions;
}

async function stageAll(lake: LakeStorage, rels: string[], heartbeat: (d: unknown) => void): Promise<StagedFile[]> {
  const out: StagedFile[] = [];
  for (const rel of rels) {
    const o = await lake.stat(rel);
    if (!o) throw badInput(`${lake.uri(rel)} disappeared while the step ran`, { file: lake.uri(rel) });
    out.push({ local: await lake.stage(o), uri: lake.uri(o.path), size: o.size });
    heartbeat({ stage: 'stage-input', staged: out.length, files: rels.length });
  }
  return out;
}

export async function planPartitionedClean(deps: EtlDeps, raw: unknown): Promise<PartitionedCleanPlan> {
  const input = parseInput(PlanPartitionedCleanInputSchema, raw, 'partitioned clean');
  const partitions = requirePartitions(input.params);
  const dataset = datasetName(input.dataset);
  const lake = openStepLake(deps, input.lake);
  const rawPrefix = `raw/${dataset}`;
  const objects = (await lake.list(rawPrefix)).filter((o) => o.path.endsWith('.parquet'));
  if (objects.length === 0) throw badInput(`dataset ${dataset} has no Parquet files under ${lake.uri(rawPrefix)}`, { dataset });
  const { version, cleanRel, rejectsRel } = cleanVersion(dataset, objects, input.params);
  const workRel = lakeJoin('_work', 'clean', dataset, version, input.workKey);
  const cached = await publishedClean(lake, cleanRel, rejectsRel, version);
  const batches: string[][] = [];
  for (let i = 0; i < objects.length; i += partitions.filesPerTask) batches.push(objects.slice(i, i + partitions.filesPerTask).map((o) => o.path));
  return { cached, version, batches: cached ? [] : batches, buckets: partitions.buckets, concurrency: partitions.concurrency, workRel };
}

/** Map: one batch of raw files → one file per non-empty bucket under the work area. Returns rows per bucket. */
export async function shuffleCleanBatch(deps: EtlDeps, raw: unknown): Promise<{ batch: number; rows: number; buckets: number[] }> {
  const input = parseInput(ShuffleCleanBatchInputSchema, raw, 'clean shuffle');
  const lake = openStepLake(deps, input.lake);
  const control = (deps.control ?? currentControl)();
  const files = await stageAll(lake, input.files, (d) => control.heartbeat(d));
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
      try {
        await runStatement(conn, control, 'shuffle', shuffle, paramsFor(shuffle, sql.params));
      } catch (err) {
        throw mapReadError(err, files);
      }
      const counts = await queryRows(conn, control, 'shuffle', 'SELECT __bucket AS b, count(*) AS n FROM shuffled GROUP BY ALL ORDER BY b');
      const total = counts.reduce((s, r) => s + Number(r.n), 0);
      const expected = inspected.reduce((s, f) => s + f.rows, 0);
      if (total !== expected) throw new Error(`conservation violated in batch ${input.batch}: ${expected} rows read, ${total} shuffled`);
      const buckets: number[] = [];
      for (const r of counts) {
        const b = Number(r.b);
        const local = join(tmp, `bucket-${pad(b)}.parquet`);
        // Input order within the bucket (ORDER BY __rid), raw columns only.
        await runStatement(conn, control, 'shuffle-write',
          `COPY (SELECT * EXCLUDE (__rid, __bucket) FROM shuffled WHERE __bucket = ${b} ORDER BY __rid) TO ${quoteLiteral(local)} (FORMAT parquet, COMPRESSION zstd)`);
        buckets.push(b);
      }
      await runStatement(conn, control, 'cleanup', 'DROP TABLE IF EXISTS shuffled');
      return { total, buckets };
    });
    for (const b of written.buckets) {
      await lake.putFile(join(tmp, `bucket-${pad(b)}.parquet`), shuffleRel(input.workRel, b, input.batch));
      control.heartbeat({ stage: 'upload', bucket: b });
    }
    return { batch: input.batch, rows: written.total, buckets: written.buckets };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Reduce: the whole clean over one bucket's shuffled files; outputs go to the work area. */
export async function cleanBucket(deps: EtlDeps, raw: unknown): Promise<CleanBucketResult> {
  const input = parseInput(CleanBucketInputSchema, raw, 'clean bucket');
  const lake = openStepLake(deps, input.lake);
  const control = (deps.control ?? currentControl)();
  const prefix = lakeJoin(input.workRel, 'shuffle', `bucket-${pad(input.bucket)}`);
  // Sorted by path, i.e. by batch: the input order.
  const objects = (await lake.list(prefix)).filter((o) => o.path.endsWith('.parquet'));
  if (objects.length === 0) return { bucket: input.bucket, rowsIn: 0, rowsClean: 0, rowsRejected: 0, reasons: {} };
  const files = await stageAll(lake, objects.map((o) => o.path), (d) => control.heartbeat(d));
  const tmp = await mkdtemp(join(tmpdir(), 'lakeforge-bucket-'));
  try {
    const outcome = await withConnection(deps, (conn) =>
      computeClean(conn, control, files, input.params, join(tmp, 'clean.parquet'), join(tmp, 'rejects.parquet')));
    await lake.putFile(join(tmp, 'clean.parquet'), outRel(input.workRel, input.bucket, 'clean'));
    await lake.putFile(join(tmp, 'rejects.parquet'), outRel(input.workRel, input.bucket, 'rejects'));
    return { bucket: input.bucket, ...outcome };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Gathers every bucket's outputs into the step's version (one part per bucket), publishes, drops the work area. */
export async function publishPartitionedClean(deps: EtlDeps, raw: unknown): Promise<StepResult> {
  const input = parseInput(PublishPartitionedCleanInputSchema, raw, 'clean publish');
  const lake = openStepLake(deps, input.lake);
  const control = (deps.control ?? currentControl)();
  const dataset = datasetName(input.dataset);
  const rawObjects = (await lake.list(`raw/${dataset}`)).filter((o) => o.path.endsWith('.parquet'));
  const { inputVersion, version, cleanRel, rejectsRel } = cleanVersion(dataset, rawObjects, input.params);
  if (version !== input.version) {
    throw badInput(`raw/${dataset} changed while the step ran (version ${input.version} planned, ${version} now): re-run the step`, { dataset });
  }
  const cached = await publishedClean(lake, cleanRel, rejectsRel, version);
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
  const cleanDir = await lake.createWorkDir(cleanRel);
  const rejectsDir = await lake.createWorkDir(rejectsRel);
  try {
    for (const b of input.buckets.filter((x) => x.rowsIn > 0)) {
      for (const [which, dir] of [['clean', cleanDir], ['rejects', rejectsDir]] as const) {
        const o = await lake.stat(outRel(input.workRel, b.bucket, which));
        if (!o) throw new Error(`bucket ${b.bucket}'s ${which} output is missing from ${lake.uri(input.workRel)}`);
        await copyFile(await lake.stage(o), join(dir, `part-${pad(b.bucket)}.parquet`));
      }
      control.heartbeat({ stage: 'gather', bucket: b.bucket });
    }
    const described = await withConnection(deps, async (conn) => {
      const rowsOf = (p: string) => parquetRows(conn, control, p);
      const cleanFiles = await describeFiles(cleanDir, rowsOf);
      const rejectFiles = await describeFiles(rejectsDir, rowsOf);
      if (cleanFiles.length === 0) throw badInput(`the input has no rows (${rawObjects.length} file(s), all empty)`);
      const cleanSchema = await parquetSchema(conn, control, join(cleanDir, cleanFiles[0].path));
      const rejectSchema = await parquetSchema(conn, control, join(rejectsDir, rejectFiles[0].path));
      return { cleanFiles, rejectFiles, cleanSchema, rejectSchema };
    });
    const result = await publishClean(lake, { dataset, params: input.params, version, inputVersion, cleanRel, rejectsRel, cleanDir, rejectsDir, outcome, ...described, control });
    await lake.removePrefix(input.workRel);
    return result;
  } catch (err) {
    await Promise.all([lake.discardWorkDir(cleanDir), lake.discardWorkDir(rejectsDir)]);
    throw err;
  }
}
