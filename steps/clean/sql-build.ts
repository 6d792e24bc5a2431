// The clean kind's SQL, assembled from its templates (sql/*.sql) for the columns actually present: every
// identifier quoted, every configured value a bound $parameter (Params), fences and literals from lakeforge only.
import { Params, quoteIdent, quoteLiteral, renderSql } from '../../activities/duckdb/sql.js';
import type { runStatement } from '../../activities/duckdb/run.js';
import { varcharList } from '../../activities/duckdb/files.js';
import { coerceColumn, rawReader } from './columns.js';
import type { CleanParams, ColumnType } from './params.js';
import { CLEAN_SQL } from './templates.js';

const lower = (s: string) => s.toLowerCase();
const ROW_GROUP_SIZE = 122_880;
const REJECT_ROW_GROUP_SIZE = 16_384;

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

