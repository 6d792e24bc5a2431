// Classifies DuckDB failures into the failure types (docs/design.md#failures), so that no error DuckDB raises without a
// file name (a corrupt page deep inside a scan, out of memory) is retried five times as an unknown error.
import type { DuckDBConnection } from '@duckdb/node-api';
import { ApplicationFailure } from '@temporalio/common';
import { badInput, resourceExhausted } from '../../contracts/failures.js';
import { quoteLiteral } from './sql.js';

export interface ReadFile {
  local: string;
  uri: string;
}

const firstLine = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0];

/** DuckDB could not get the memory it needed under its memory_limit (and temp_directory could not help). */
export function isOutOfMemory(msg: string): boolean {
  return /Out of Memory Error|could not allocate block|failed to allocate|memory_limit/i.test(msg);
}

/**
 * What DuckDB says about bytes it cannot decode. Parquet decoding errors do not name the file: `Invalid Error: Out of
 * buffer`, `TProtocolException: Invalid data` (a corrupt Thrift page header), bad compression, impossible levels.
 */
export function isCorruptData(msg: string): boolean {
  return /Out of buffer|TProtocolException|Invalid Error|corrupt|decompress|snappy|zstd|gzip|lz4|brotli|dictionary|page header|definition level|repetition level|parquet|Invalid Input Error|IO Error|Conversion Error|Invalid unicode|UTF-?8/i.test(msg);
}

/** The configured memory limit, for the message (DuckDB's current setting, or LAKEFORGE_DUCKDB_MEMORY). */
async function memoryLimit(conn: DuckDBConnection | undefined): Promise<string> {
  try {
    if (conn) {
      const r = await conn.runAndReadAll("SELECT current_setting('memory_limit') AS m");
      return String(r.getRowObjectsJson()[0]?.m);
    }
  } catch {
    // fall through to the environment
  }
  return process.env.LAKEFORGE_DUCKDB_MEMORY || 'DuckDB default (80% of RAM)';
}

/**
 * Finds which input file cannot be decoded by scanning each on its own, every column (count(COLUMNS(*)) makes
 * DuckDB decode every page, unlike count(*), which the footer answers). Only runs after a failure.
 */
export async function findUnreadableFile(conn: DuckDBConnection, files: ReadFile[]): Promise<{ file: ReadFile; error: string } | null> {
  for (const f of files) {
    try {
      await conn.run(`SELECT count(COLUMNS(*)) FROM read_parquet(${quoteLiteral(f.local)}, hive_partitioning = false)`);
    } catch (err) {
      const msg = firstLine(err);
      if (isOutOfMemory(msg)) return null;
      return { file: f, error: msg };
    }
  }
  return null;
}

/**
 * Maps an error raised while DuckDB read `files` (and computed on them):
 * - out of memory: ResourceExhausted naming LAKEFORGE_DUCKDB_MEMORY and its current value;
 * - undecodable data: BadInput naming the file (found by probing when DuckDB's message does not say);
 * - a failure of ours (ApplicationFailure), a cancellation, or anything unrecognised: returned unchanged.
 */
export async function classifyDuckdbError(err: unknown, files: ReadFile[], conn?: DuckDBConnection, stage = 'reading the input'): Promise<unknown> {
  if (err instanceof ApplicationFailure) return err;
  const msg = String((err as Error)?.message ?? err);
  if (/INTERRUPT/i.test(msg)) return err;
  if (isOutOfMemory(msg)) {
    const limit = await memoryLimit(conn);
    return resourceExhausted(
      `DuckDB ran out of memory while ${stage} (memory limit ${limit}): raise LAKEFORGE_DUCKDB_MEMORY on the ETL workers, ` +
        `or partition the step (params.partitions) so each task holds less. DuckDB said: ${firstLine(err)}`,
      { setting: 'LAKEFORGE_DUCKDB_MEMORY', memoryLimit: limit },
    );
  }
  const named = files.find((x) => msg.includes(x.local));
  if (named) return badInput(`input file ${named.uri} could not be read: ${firstLine(err)}`, { file: named.uri });
  if (!isCorruptData(msg)) return err;
  const found = conn && files.length ? await findUnreadableFile(conn, files) : null;
  if (found) {
    return badInput(`input file ${found.file.uri} is corrupt (its data pages do not decode): ${found.error}`, { file: found.file.uri });
  }
  if (files.length === 1) return badInput(`input file ${files[0].uri} could not be read: ${firstLine(err)}`, { file: files[0].uri });
  return badInput(`input could not be read (${files.length} files; none fails on its own): ${firstLine(err)}`);
}
