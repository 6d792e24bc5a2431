// DuckDB over staged Parquet files, as the ETL kinds use it: a private connection per activity, inspection of every
// input file before work, row counts and schemas of written files, and DuckDB errors mapped to named failures.
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { listValue } from '@duckdb/node-api';
import { ApplicationFailure } from '@temporalio/common';
import { badInput } from '../../contracts/failures.js';
import type { LakeDeps } from '../kernel/input.js';
import type { StepControl } from '../kernel/context.js';
import { queryRows } from './run.js';

/** What the ETL kinds are built with: one DuckDB instance per worker process, and where the lake is. */
export interface EtlDeps extends LakeDeps {
  duckdb: DuckDBInstance;
  /** The project directory whose sql/ holds the files of `uses: sql` steps; default the repository root. */
  sqlRoot?: string;
}

/** A dedicated connection for one activity run: temp tables are private to it and no statement ever shares it. */
export async function withConnection<T>(deps: Pick<EtlDeps, 'duckdb'>, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const conn = await deps.duckdb.connect();
  try {
    // Progress tracking lets heartbeats carry a percentage; nothing is printed.
    await conn.run('SET enable_progress_bar = true');
    await conn.run('SET enable_progress_bar_print = false');
    return await fn(conn);
  } finally {
    conn.closeSync();
  }
}

export interface InputColumn {
  name: string;
  type: string;
}

/**
 * Opens every input file once before any real work: a zero-byte, truncated or corrupt file (its footer does not
 * parse) or one with no rows at all is BadInput naming it. Returns each file's columns and row count.
 */
export async function inspectInputFiles(
  conn: DuckDBConnection,
  control: StepControl,
  files: { local: string; uri: string; size: number }[],
): Promise<{ columns: InputColumn[]; rows: number }[]> {
  const out: { columns: InputColumn[]; rows: number }[] = [];
  for (const f of files) {
    if (f.size === 0) throw badInput(`input file ${f.uri} is empty (0 bytes)`, { file: f.uri });
    let rows: number;
    let columns: InputColumn[];
    try {
      const md = await queryRows(conn, control, 'inspect', 'SELECT num_rows FROM parquet_file_metadata($f)', { f: f.local });
      rows = Number(md[0]?.num_rows ?? 0);
      const desc = await queryRows(conn, control, 'inspect', 'DESCRIBE SELECT * FROM read_parquet($f)', { f: f.local });
      columns = desc.map((d) => ({ name: String(d.column_name), type: String(d.column_type) }));
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      throw badInput(`input file ${f.uri} is not readable Parquet (corrupt or truncated): ${firstLine(err)}`, { file: f.uri });
    }
    out.push({ columns, rows });
  }
  return out;
}

export function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}

/** Row count and schema of a Parquet file we wrote, for its manifest entry. */
export async function parquetRows(conn: DuckDBConnection, control: StepControl, path: string): Promise<number> {
  const r = await queryRows(conn, control, 'manifest', 'SELECT num_rows FROM parquet_file_metadata($f)', { f: path });
  return Number(r[0]?.num_rows ?? 0);
}

export async function parquetSchema(conn: DuckDBConnection, control: StepControl, path: string): Promise<{ name: string; type: string }[]> {
  const r = await queryRows(conn, control, 'manifest', 'DESCRIBE SELECT * FROM read_parquet($f, hive_partitioning = false)', { f: path });
  return r.map((d) => ({ name: String(d.column_name), type: String(d.column_type) }));
}

export function varcharList(values: string[]) {
  return listValue(values);
}
