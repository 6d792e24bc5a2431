// clean: raw/<dataset>/*.parquet → clean/<dataset>/<version>/ and rejects/<dataset>/<version>/, through the kernel.
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { badInput, invariantViolated, schemaMismatch } from '../../../contracts/failures.js';
import type { StepInput } from '../../../contracts/step-input.js';
import { classifyDuckdbError } from '../../duckdb/errors.js';
import { requireSomeClean } from './outcome.js';
import { checkDeclaredColumns, checkRawColumns, coerceColumn, rawReader } from './columns.js';
import type { StepResult } from '../../../contracts/step-result.js';
import { buildManifest, datasetName, type LakeStorage, type Manifest, type ObjectInfo, type ManifestFile } from '../../lake/index.js';
import { Params, loadSqlDir, quoteIdent, quoteLiteral, renderSql } from '../../duckdb/sql.js';
import { queryRows, runStatement, type StepControl } from '../../duckdb/run.js';
import { inspectInputFiles, parquetRows, parquetSchema, varcharList, withConnection, type EtlDeps } from '../../duckdb/files.js';
import { runStep, type StepImpl } from '../../kernel/lifecycle.js';
import { describeOutput } from '../../kernel/publish.js';
import { stageObjects } from '../../kernel/stage.js';
import { rawInputVersion, stepVersion } from '../../kernel/version.js';
import { type CleanParams, type ColumnType } from './params.js';

/** Bumped whenever this kind changes what it computes; part of the version (docs/design.md#versions). */
export const CLEAN_CODE_VERSION = 'clean-1';
export const CLEAN_SQL = loadSqlDir(new URL('./sql/', import.meta.url));
const ROW_GROUP_SIZE = 122_880;
const REJECT_ROW_GROUP_SIZE = 16_384;

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

/** Builds the SQL of every clean concern from the templates, for the columns actually present in the input. */
export function buildCleanSql(params: CleanParams, present: Map<string, string>, files: string[], cleanPath: string, rejectsPath: string, iqrFences?: Map<string, [number | null, number | null]>) {
  const p = new Params();
  p.set('files', varcharList(files));
  const typeOf = new Map(params.columns.map((c) => [lower(c.name), c.type] as [string, ColumnType]));
  const q = quoteIdent;

  // 20_coerce: TRY_CAST, normalisation, cast failures.
  const typed: string[] = [];
  const castFailures: string[] = [];
  for (const c of params.columns) {
    const src = present.get(lower(c.name));
    if (src === undefined) {
      typed.push(`CAST(NULL AS ${c.type}) AS ${q(c.name)}`);
      continue;
    }
    // Binary (un-annotated BYTE_ARRAY) text is decoded as UTF-8, rejecting what is not (columns.ts).
    const { cast, checkFailure } = coerceColumn(c.name, src, c.type);
    if (checkFailure) castFailures.push(`WHEN ${checkFailure.when} THEN ${p.add(checkFailure.reason)}`);
    let expr = cast;
    if (c.type === 'VARCHAR' && c.normalize) expr = `nullif(lf_normalize_text(${cast}), '')`;
    if (c.type === 'VARCHAR[]' && c.normalize) expr = `list_transform(${cast}, __t -> lf_normalize_text(__t))`;
    typed.push(`${expr} AS ${q(c.name)}`);
    // Same type in and out cannot fail; anything else is checked.
    if (src.toUpperCase() !== c.type && c.type !== 'VARCHAR') {
      castFailures.push(`WHEN ${q(c.name)} IS NOT NULL AND ${cast} IS NULL THEN ${p.add(`cast_failed:${c.name}`)}`);
    }
  }

  // 30_nulls: fills and drops.
  const fills: string[] = [];
  const drops: string[] = [];
  for (const c of params.columns) {
    if (typeof c.nulls === 'object') fills.push(`coalesce(${q(c.name)}, CAST(${p.add(c.nulls.fill)} AS ${c.type})) AS ${q(c.name)}`);
    else if (c.nulls === 'drop') drops.push(`WHEN ${q(c.name)} IS NULL THEN ${p.add(`null:${c.name}`)}`);
  }

  // 40_labels.
  const labelRule: string[] = [];
  if (params.labels) {
    const col = q(params.labels.column);
    const set = `CAST(${p.add(varcharList(params.labels.values))} AS VARCHAR[])`;
    const reason = p.add(`label_not_in_set:${params.labels.column}`);
    if (typeOf.get(lower(params.labels.column)) === 'VARCHAR[]') {
      labelRule.push(`WHEN ${col} IS NOT NULL AND len(list_filter(${col}, __t -> __t IS NULL OR NOT list_contains(${set}, __t))) > 0 THEN ${reason}`);
    } else {
      labelRule.push(`WHEN ${col} IS NOT NULL AND NOT list_contains(${set}, ${col}) THEN ${reason}`);
    }
  }

  // 50_outliers.
  const outlierRule: string[] = [];
  const quartiles: string[] = [];
  const iqrColumns: string[] = [];
  params.outliers.forEach((o, i) => {
    const col = q(o.column);
    if (o.method === 'range') {
      const conds: string[] = [];
      if (o.min !== undefined) conds.push(`${col} < ${p.add(o.min)}`);
      if (o.max !== undefined) conds.push(`${col} > ${p.add(o.max)}`);
      if (conds.length) outlierRule.push(`WHEN ${conds.join(' OR ')} THEN ${p.add(`outlier_range:${o.column}`)}`);
    } else if (o.method === 'iqr') {
      quartiles.push(`quantile_cont(${col}, [0.25, 0.75]) AS ${q(`q${i}`)}`);
      if (!iqrColumns.includes(col)) iqrColumns.push(col);
      const fence = iqrFences?.get(`q${i}`);
      if (fence && fence[0] !== null && fence[1] !== null) {
        outlierRule.push(`WHEN ${col} < ${p.add(fence[0])} OR ${col} > ${p.add(fence[1])} THEN ${p.add(`outlier_iqr:${o.column}`)}`);
      }
    } else {
      const len = typeOf.get(lower(o.column)) === 'VARCHAR[]' ? `len(${col})` : `length(${col})`;
      const conds: string[] = [];
      if (o.min !== undefined) conds.push(`${len} < ${p.add(o.min)}`);
      if (o.max !== undefined) conds.push(`${len} > ${p.add(o.max)}`);
      if (conds.length) outlierRule.push(`WHEN ${col} IS NOT NULL AND (${conds.join(' OR ')}) THEN ${p.add(`length_out_of_bounds:${o.column}`)}`);
    }
  });

  // 55_list_lengths.
  const shapeRule = params.sameLength.map(
    ([a, b]) => `WHEN ${q(a)} IS NOT NULL AND ${q(b)} IS NOT NULL AND len(${q(a)}) <> len(${q(b)}) THEN ${p.add(`length_mismatch:${a},${b}`)}`,
  );

  // 70_duplicates.
  const allCols = params.columns.map((c) => q(c.name)).join(', ');
  const noRows = 'SELECT CAST(NULL AS BIGINT) AS __rid WHERE false';
  const exactDups = params.dropExactDuplicates
    ? `SELECT __rid FROM (
      SELECT __rid, row_number() OVER (PARTITION BY ${allCols} ORDER BY __rid) AS __n
      FROM checked c SEMI JOIN (SELECT __h FROM checked WHERE __reason IS NULL GROUP BY __h HAVING count(*) > 1) h USING (__h)
      WHERE c.__reason IS NULL)
    WHERE __n > 1`
    : noRows;
  let keyDups = noRows;
  if (params.key) {
    const keys = params.key.map(q);
    const order = [params.timestamp ? `${q(params.timestamp)} DESC NULLS LAST` : null, '__rid DESC'].filter(Boolean).join(', ');
    const narrow = [...new Set(['__rid', ...keys, ...(params.timestamp ? [q(params.timestamp)] : [])])].join(', ');
    keyDups = `SELECT __rid FROM (
      SELECT __rid, row_number() OVER (PARTITION BY ${keys.join(', ')} ORDER BY ${order}) AS __n
      FROM (
        SELECT ${narrow} FROM checked c ANTI JOIN exact_dups e USING (__rid)
        WHERE c.__reason IS NULL AND ${keys.map((k) => `${k} IS NOT NULL`).join(' AND ')}
      ) v SEMI JOIN (
        SELECT ${keys.join(', ')} FROM checked WHERE __reason IS NULL GROUP BY ALL HAVING count(*) > 1
      ) k USING (${keys.join(', ')}))
    WHERE __n > 1`;
  }

  const caseOf = (whens: string[]) => (whens.length ? `CASE ${whens.join(' ')} END` : 'CAST(NULL AS VARCHAR)');
  const T = CLEAN_SQL;
  const reader = rawReader(present);
  const rawInputCte = renderSql(T['10_input.sql'], { exclude: reader.exclude, row_number: reader.rowNumber, options: reader.options }).trim();
  const upToLabels = [
    rawInputCte,
    renderSql(T['20_coerce.sql'], { typed_columns: typed.join(',\n    '), cast_failure: caseOf(castFailures) }).trim(),
    renderSql(T['30_nulls.sql'], { fill_replace: fills.length ? `REPLACE (${fills.join(', ')})` : '', null_drop: caseOf(drops) }).trim(),
    renderSql(T['40_labels.sql'], { label_rule: caseOf(labelRule) }).trim(),
  ];
  const checkedCtes = [
    ...upToLabels,
    renderSql(T['50_outliers.sql'], { outlier_rule: caseOf(outlierRule) }).trim(),
    renderSql(T['55_list_lengths.sql'], { shape_rule: caseOf(shapeRule) }).trim(),
  ];
  // 15_shuffle (partitioned cleaning only): the bucket of each row's deduplication identity.
  const identity = params.key ?? (params.dropExactDuplicates ? params.columns.map((c) => c.name) : null);
  const shuffle = (buckets: number) => renderSql(T['15_shuffle.sql'], {
    ctes: upToLabels.slice(0, 3).join(',\n'),
    bucket_columns: identity ? identity.map((c) => `n.${q(c)}`).join(', ') : 'r.__rid',
    buckets: String(Math.trunc(buckets)),
  });
  return {
    params: p.values,
    shuffle,
    macro: T['00_normalize_macro.sql'],
    iqr: quartiles.length ? `WITH ${upToLabels.join(',\n')}\n${renderSql(T['51_iqr_bounds.sql'], { quartiles: quartiles.join(', ') })}` : null,
    // Partitioned cleaning: a batch's IQR inputs (52_iqr_values), and the quartiles over every batch's (51_iqr_bounds).
    iqrValues: (path: string) => (quartiles.length
      ? renderSql(T['52_iqr_values.sql'], { ctes: upToLabels.join(',\n'), columns: iqrColumns.join(', '), path: quoteLiteral(path) })
      : null),
    iqrOverValues: quartiles.length
      ? `WITH label_checked AS (SELECT *, CAST(NULL AS VARCHAR) AS __reason FROM read_parquet($files))\n${renderSql(T['51_iqr_bounds.sql'], { quartiles: quartiles.join(', ') })}`
      : null,
    checked: renderSql(T['60_checked.sql'], { ctes: checkedCtes.join(',\n'), all_columns: allCols }),
    duplicates: renderSql(T['70_duplicates.sql'], { exact_dups: exactDups, key_dups: keyDups }),
    markDuplicates: T['75_mark_duplicates.sql'],
    writeClean: renderSql(T['80_write_clean.sql'], { columns: allCols, path: quoteLiteral(cleanPath), row_group_size: String(ROW_GROUP_SIZE) }),
    writeRejects: renderSql(T['81_write_rejects.sql'], { raw_input: rawInputCte, path: quoteLiteral(rejectsPath), reject_row_group_size: String(REJECT_ROW_GROUP_SIZE) }),
    counts: T['90_counts.sql'],
  };
}

/** Which parameters each statement references: DuckDB refuses unused named parameters. */
export function paramsFor(sql: string, all: Record<string, unknown>) {
  const used: Record<string, unknown> = {};
  for (const m of sql.matchAll(/\$([a-z][a-z0-9_]*)/gi)) if (m[1] in all) used[m[1]] = all[m[1]];
  return used as Parameters<typeof runStatement>[4];
}

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

