// clean: raw/<dataset>/*.parquet → clean/<dataset>/<version>/ and rejects/<dataset>/<version>/, through the kernel.
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { badInput, invariantViolated, schemaMismatch } from '../../contracts/failures.js';
import type { StepInput } from '../../contracts/step-input.js';
import { classifyDuckdbError } from '../../activities/duckdb/errors.js';
import { requireSomeClean } from './outcome.js';
import { checkDeclaredColumns, checkRawColumns } from './columns.js';
import type { StepResult } from '../../contracts/step-result.js';
import { buildManifest, datasetName, type LakeStorage, type Manifest, type ObjectInfo, type ManifestFile } from '../../activities/lake/index.js';
import { queryRows, runStatement, type StepControl } from '../../activities/duckdb/run.js';
import { inspectInputFiles, parquetRows, parquetSchema, varcharList, withConnection, type EtlDeps } from '../../activities/duckdb/files.js';
import { runStep, type StepImpl } from '../../activities/kernel/lifecycle.js';
import { describeOutput } from '../../activities/kernel/publish.js';
import { stageObjects } from '../../activities/kernel/stage.js';
import { rawInputVersion, stepVersion } from '../../activities/kernel/version.js';
import type { CleanParams } from './params.js';

/** Bumped whenever this kind changes what it computes; part of the version (docs/design.md#versions). */
export const CLEAN_CODE_VERSION = 'clean-1';
import { CLEAN_SQL } from './templates.js';
import { buildCleanSql, paramsFor } from './sql-build.js';
export { CLEAN_SQL } from './templates.js';
export { buildCleanSql, paramsFor } from './sql-build.js';

export interface StagedFile {
  local: string;
  uri: string;
  size: number;
}

export interface CleanOutcome {
  rowsIn: number;
  rowsClean: number;
  rowsRejected: number;
  reasons: Record<string, number>;
}

/** The raw Parquet files of a dataset: BadInput when there are none. */
export async function rawObjects(lake: LakeStorage, dataset: string): Promise<ObjectInfo[]> {
  const rawPrefix = `raw/${dataset}`;
  const objects = (await lake.list(rawPrefix)).filter((o) => o.path.endsWith('.parquet'));
  if (objects.length === 0) throw badInput(`dataset ${dataset} has no Parquet files under ${lake.uri(rawPrefix)}`, { dataset });
  return objects;
}

export const cleanStep: StepImpl<'clean', EtlDeps, { objects: ObjectInfo[]; inputVersion: string }> = {
  kind: 'clean',
  async plan({ input, params, lake }) {
    const dataset = datasetName(input.dataset);
    const objects = await rawObjects(lake, dataset);
    const { inputVersion, version, cleanRel, rejectsRel } = cleanVersion(dataset, objects, params);
    // Rejects first: once the clean manifest exists, its rejects are guaranteed to be there too.
    return { version, outputs: [rejectsRel, cleanRel], state: { objects, inputVersion } };
  },
  async compute({ input, params, deps, lake, control, version, outputs: [rejectsRel, cleanRel], workDirs: [rejectsDir, cleanDir], state }) {
    const files = await stageObjects(lake, control, state.objects);
    const described = await withConnection(deps, async (conn) => {
      const outcome = await computeClean(conn, control, files, params, join(cleanDir, 'part-0.parquet'), join(rejectsDir, 'part-0.parquet'));
      return { outcome, ...(await describeClean(conn, control, cleanDir, rejectsDir)) };
    });
    return cleanManifests(lake, { dataset: datasetName(input.dataset), params, version, inputVersion: state.inputVersion, cleanRel, rejectsRel, ...described });
  },
};

export function runClean(deps: EtlDeps, input: StepInput<'clean'>): Promise<StepResult> {
  return runStep(cleanStep, deps, input);
}

/** Files and schemas of a clean and a rejects work directory, for their manifests. */
export async function describeClean(conn: DuckDBConnection, control: StepControl, cleanDir: string, rejectsDir: string) {
  const rowsOf = (p: string) => parquetRows(conn, control, p);
  const cleanFiles = await describeOutput(cleanDir, rowsOf);
  const rejectFiles = await describeOutput(rejectsDir, rowsOf);
  const cleanSchema = await parquetSchema(conn, control, join(cleanDir, cleanFiles[0]?.path ?? 'part-0.parquet'));
  const rejectSchema = await parquetSchema(conn, control, join(rejectsDir, rejectFiles[0]?.path ?? 'part-0.parquet'));
  return { cleanFiles, rejectFiles, cleanSchema, rejectSchema };
}

/**
 * The version of a clean step (docs/design.md#versions). Partitioning is left out: batch sizes and bucket counts change the
 * file layout, not the rows, so a partitioned and an unpartitioned run of the same spec share one version.
 */
export function cleanVersion(dataset: string, objects: ObjectInfo[], params: CleanParams) {
  const { partitions: _layoutOnly, ...versioned } = params;
  const inputVersion = rawInputVersion(objects);
  const version = stepVersion({ step: 'clean', codeVersion: CLEAN_CODE_VERSION, inputs: [inputVersion], params: versioned, sql: CLEAN_SQL });
  return { inputVersion, version, cleanRel: `clean/${dataset}/${version}`, rejectsRel: `rejects/${dataset}/${version}` };
}

/** Checks conservation on what was actually written; the rejects and clean manifests, in publishing order. */
export function cleanManifests(lake: LakeStorage, o: {
  dataset: string; params: CleanParams; version: string; inputVersion: string; cleanRel: string; rejectsRel: string;
  outcome: CleanOutcome; cleanFiles: ManifestFile[]; rejectFiles: ManifestFile[];
  cleanSchema: { name: string; type: string }[]; rejectSchema: { name: string; type: string }[];
}): Manifest[] {
  const { dataset, version, inputVersion, cleanRel, rejectsRel, outcome, cleanFiles, rejectFiles, cleanSchema, rejectSchema } = o;
  const { partitions: _layoutOnly, ...params } = o.params;
  // Conservation, checked on what was actually written (docs/design.md#manifests).
  const writtenClean = cleanFiles.reduce((s, f) => s + f.rows, 0);
  const writtenRejects = rejectFiles.reduce((s, f) => s + f.rows, 0);
  if (writtenClean !== outcome.rowsClean || writtenRejects !== outcome.rowsRejected || outcome.rowsIn !== writtenClean + writtenRejects) {
    throw invariantViolated(
      `conservation violated for ${dataset}: rows_in=${outcome.rowsIn}, clean=${writtenClean} (expected ${outcome.rowsClean}), rejected=${writtenRejects} (expected ${outcome.rowsRejected})`,
    );
  }
  requireSomeClean(dataset, outcome, o.params.allowEmpty);
  const metrics: Record<string, number> = {
    rows_in: outcome.rowsIn,
    rows_clean: outcome.rowsClean,
    rows_rejected: outcome.rowsRejected,
  };
  for (const [reason, n] of Object.entries(outcome.reasons)) metrics[`rejected.${reason}`] = n;
  const conservation = { rowsIn: outcome.rowsIn, rowsClean: outcome.rowsClean, rowsRejected: outcome.rowsRejected, balanced: true };
  const common = { version, step: 'clean', inputs: [inputVersion], params };
  const rejectsManifest = buildManifest({
    ...common,
    files: rejectFiles,
    schema: rejectSchema,
    extra: { output: 'rejects', dataset, conservation, rejectReasons: outcome.reasons, clean: lake.uri(cleanRel) },
  });
  const cleanManifest = buildManifest({
    ...common,
    files: cleanFiles,
    schema: cleanSchema,
    extra: {
      output: 'clean',
      dataset,
      conservation,
      rejectReasons: outcome.reasons,
      rejects: { uri: lake.uri(rejectsRel), rows: outcome.rowsRejected },
      metrics,
    },
  });
  return [rejectsManifest, cleanManifest];
}

const lower = (s: string) => s.toLowerCase();

/** Schema: every required column in every file (SchemaMismatch names column and file); list-ness must match. */
export async function checkCleanInput(conn: DuckDBConnection, control: StepControl, files: StagedFile[], params: CleanParams) {
  checkDeclaredColumns(params.columns);
  const inspected = await inspectInputFiles(conn, control, files);
  inspected.forEach((info, i) => {
    checkRawColumns(files[i].uri, info.columns);
    const cols = new Map(info.columns.map((c) => [lower(c.name), c]));
    for (const c of params.columns) {
      const found = cols.get(lower(c.name));
      if (!found) {
        if (c.required) {
          throw schemaMismatch(`required column ${JSON.stringify(c.name)} is missing from ${files[i].uri} (it has: ${info.columns.map((x) => x.name).join(', ')})`, {
            column: c.name,
            file: files[i].uri,
          });
        }
        continue;
      }
      const isList = /\[\]$/.test(found.type);
      const isNested = isList || /^(STRUCT|MAP|UNION)/.test(found.type);
      if ((c.type === 'VARCHAR[]') !== isList || (c.type !== 'VARCHAR[]' && isNested)) {
        throw schemaMismatch(`column ${JSON.stringify(c.name)} is ${found.type} in ${files[i].uri}, declared ${c.type}`, { column: c.name, file: files[i].uri, type: found.type });
      }
    }
  });
  return inspected;
}

/** Tukey fences (keyed q<i>, the i-th outlier rule) from the quartiles 51_iqr_bounds.sql computed; none where no values. */
export type IqrFences = Record<string, [number, number]>;
export function iqrFences(params: CleanParams, row: Record<string, unknown> | undefined): IqrFences {
  const fences: IqrFences = {};
  params.outliers.forEach((o, i) => {
    if (o.method !== 'iqr') return;
    const qs = row?.[`q${i}`] as number[] | null;
    if (!qs || qs[0] === null || qs[1] === null) return;
    const iqr = qs[1] - qs[0];
    fences[`q${i}`] = [qs[0] - o.k * iqr, qs[1] + o.k * iqr];
  });
  return fences;
}

/**
 * Every clean concern over staged files, writing one clean and one rejects Parquet file; returns the counts.
 * `fences`: IQR fences computed beforehand over the whole dataset (partitioned cleaning); else from these files.
 */
export async function computeClean(
  conn: DuckDBConnection, control: StepControl, files: StagedFile[], params: CleanParams, cleanPath: string, rejectsPath: string, fences?: IqrFences,
): Promise<CleanOutcome> {
  const inspected = await checkCleanInput(conn, control, files, params);
  const expectedRows = inspected.reduce((s, f) => s + f.rows, 0);
  if (expectedRows === 0) throw badInput(`the input has no rows (${files.length} file(s), all empty)`);

  const locals = files.map((f) => f.local);
  const unified = await queryRows(conn, control, 'inspect', 'DESCRIBE SELECT * FROM read_parquet($files, union_by_name = true)', { files: varcharList(locals) });
  const present = new Map(unified.map((d) => [lower(String(d.column_name)), String(d.column_type)]));

  try {
    let sql = buildCleanSql(params, present, locals, cleanPath, rejectsPath);
    await runStatement(conn, control, 'macro', sql.macro);
    if (sql.iqr) {
      let f = fences;
      if (!f) {
        const [row] = await queryRows(conn, control, 'iqr', sql.iqr, paramsFor(sql.iqr, sql.params));
        f = iqrFences(params, row);
      }
      sql = buildCleanSql(params, present, locals, cleanPath, rejectsPath, new Map(Object.entries(f)));
    }
    await runStatement(conn, control, 'check', sql.checked, paramsFor(sql.checked, sql.params));
    await runStatement(conn, control, 'dedupe', sql.duplicates);
    await runStatement(conn, control, 'dedupe', sql.markDuplicates);
    const wroteClean = await runStatement(conn, control, 'write-clean', sql.writeClean);
    const [collectRejects, copyRejects] = sql.writeRejects.split(/;\s*\n/);
    await runStatement(conn, control, 'collect-rejects', collectRejects, paramsFor(collectRejects, sql.params));
    const wroteRejects = await runStatement(conn, control, 'write-rejects', copyRejects);
    const counts = await queryRows(conn, control, 'counts', sql.counts);
    const reasons: Record<string, number> = {};
    let rowsIn = 0;
    let rowsClean = 0;
    for (const r of counts) {
      const n = Number(r.n);
      rowsIn += n;
      if (r.reason === '') rowsClean = n;
      else reasons[String(r.reason)] = n;
    }
    const rowsRejected = rowsIn - rowsClean;
    if (rowsIn !== expectedRows) throw invariantViolated(`conservation violated: the input files hold ${expectedRows} rows, ${rowsIn} were judged`);
    if (Number(wroteClean.rowsChanged) !== rowsClean || Number(wroteRejects.rowsChanged) !== rowsRejected) {
      throw invariantViolated(`conservation violated: wrote ${wroteClean.rowsChanged} clean and ${wroteRejects.rowsChanged} rejected rows of ${rowsIn}`);
    }
    await runStatement(conn, control, 'cleanup', 'DROP TABLE IF EXISTS duplicates');
    await runStatement(conn, control, 'cleanup', 'DROP TABLE IF EXISTS checked');
    await runStatement(conn, control, 'cleanup', 'DROP TABLE IF EXISTS rejected');
    return { rowsIn, rowsClean, rowsRejected, reasons };
  } catch (err) {
    throw await classifyDuckdbError(err, files, conn, 'cleaning');
  }
}

