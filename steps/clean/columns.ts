// Column-level concerns of the clean step that real lakes bring: text stored as un-annotated Parquet BINARY (older
// Spark, Hive and Impala writers), raw columns named like the engine's internal columns, and raw columns named like
// DuckDB reader options.
import { invalidPipeline, schemaMismatch } from '../../contracts/failures.js';
import { quoteIdent } from '../../activities/duckdb/sql.js';
import type { ColumnType } from './params.js';

/**
 * Names the clean and features SQL add next to declared columns: the row identity, the reader's file column, the
 * running reason, the duplicate hash, window ranks and lambda variables, the split draw, the shuffle bucket, and
 * the rejects' reason column.
 */
export const RESERVED_COLUMNS = ['__rid', '__file', '__reason', '__h', '__n', '__t', '__u', '__bucket', 'reject_reason'] as const;
/**
 * The ones that meet undeclared raw columns too (the raw scan, the shuffle files, the rejects): a raw column with
 * one of these names would silently shadow or be shadowed by ours, so it is refused by name.
 */
export const RAW_RESERVED_COLUMNS = ['__rid', '__file', '__bucket', 'reject_reason'] as const;

const reserved = new Set<string>(RESERVED_COLUMNS);
const rawReserved = new Set<string>(RAW_RESERVED_COLUMNS);

/** Declared columns may not use an internal name (InvalidPipeline names it). */
export function checkDeclaredColumns(columns: { name: string }[]): void {
  for (const c of columns) {
    if (reserved.has(c.name.toLowerCase())) {
      throw invalidPipeline(`clean column ${JSON.stringify(c.name)} uses a name lakeforge reserves for its own columns (${RESERVED_COLUMNS.join(', ')}); rename it with a sql step first`, { column: c.name });
    }
  }
}

/** A raw file's columns may not use an internal name either: its values would land in (or be hidden by) ours. */
export function checkRawColumns(file: string, columns: { name: string }[]): void {
  for (const c of columns) {
    if (!rawReserved.has(c.name.toLowerCase())) continue;
    const why = c.name.toLowerCase() === 'reject_reason'
      ? 'the rejects output adds its own reject_reason column'
      : 'lakeforge uses that name for an internal column';
    throw schemaMismatch(`raw column ${JSON.stringify(c.name)} in ${file} collides with a column lakeforge adds (${why}); rename it in the raw data (reserved: ${RAW_RESERVED_COLUMNS.join(', ')})`, {
      column: c.name,
      file,
    });
  }
}

const isBlob = (t: string | undefined) => t?.toUpperCase() === 'BLOB';
const isBlobList = (t: string | undefined) => t?.toUpperCase() === 'BLOB[]';

/**
 * How a declared column is read from its raw type. Un-annotated BINARY arrives as BLOB, and a plain cast to VARCHAR
 * would give the escaped literal (`caf\xC3\xA9`): it is decoded as UTF-8 instead, and a value that is not valid
 * UTF-8 rejects the row with `invalid_utf8:<column>`. Other types (and other targets) are TRY_CAST as before.
 * `checkFailure`: an extra rejection condition (with its reason), or null.
 */
export function coerceColumn(name: string, srcType: string, declared: ColumnType): { cast: string; checkFailure: { when: string; reason: string } | null } {
  const col = quoteIdent(name);
  if (isBlob(srcType)) {
    const text = `TRY(decode(${col}))`;
    return {
      cast: declared === 'VARCHAR' ? text : `TRY_CAST(${text} AS ${declared})`,
      checkFailure: { when: `${col} IS NOT NULL AND ${text} IS NULL`, reason: `invalid_utf8:${name}` },
    };
  }
  if (isBlobList(srcType) && declared === 'VARCHAR[]') {
    const texts = `list_transform(${col}, __t -> TRY(decode(__t)))`;
    // list_count counts non-NULL elements: one fewer after decoding means an element was not UTF-8.
    return { cast: texts, checkFailure: { when: `${col} IS NOT NULL AND list_count(${texts}) <> list_count(${col})`, reason: `invalid_utf8:${name}` } };
  }
  return { cast: `TRY_CAST(${col} AS ${declared})`, checkFailure: null };
}

/**
 * The raw reader's row identity. DuckDB refuses `file_row_number = true` on a file with a column of that name, so
 * then the row number comes from a streaming `row_number() OVER ()` over the scan (insertion order is preserved,
 * so it still increases with the file's order) and the raw column is kept as delivered.
 */
export function rawReader(present: Map<string, string>): { options: string; rowNumber: string; exclude: string } {
  if (present.has('file_row_number')) return { options: '', rowNumber: '(row_number() OVER () - 1)', exclude: '__file' };
  return { options: ', file_row_number = true', rowNumber: 'file_row_number', exclude: 'file_row_number, __file' };
}
