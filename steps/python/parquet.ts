// Rows and schema of the Parquet files a Python step wrote, for its manifest (other files count 0 rows).
import type { DuckDBInstance } from '@duckdb/node-api';
import { listLocalFiles } from '../../activities/lake/manifest.js';
import { parquetRows, parquetSchema, withConnection } from '../../activities/duckdb/files.js';
import { createDuckDb } from '../../activities/duckdb/instance.js';
import type { StepControl } from '../../activities/kernel/context.js';
import { badInput } from '../../contracts/failures.js';
import { join } from 'node:path';
import type { PythonStepDeps } from './types.js';

let shared: Promise<DuckDBInstance> | null = null;

export async function parquetFacts(deps: PythonStepDeps, control: StepControl, workDir: string): Promise<{ rows: Map<string, number>; schema: { name: string; type: string }[] }> {
  const parquet = (await listLocalFiles(workDir)).filter((f) => f.endsWith('.parquet')).map((f) => join(workDir, ...f.split('/')));
  const rows = new Map<string, number>();
  if (parquet.length === 0) return { rows, schema: [] };
  const duckdb = deps.duckdb ?? (await (shared ??= createDuckDb()));
  return withConnection({ duckdb }, async (conn) => {
    for (const p of parquet) {
      try {
        rows.set(p, await parquetRows(conn, control, p));
      } catch (err) {
        throw badInput(`the step wrote ${p}, which is not a readable Parquet file: ${String((err as Error)?.message ?? err).split('\n')[0]}`, { file: p });
      }
    }
    return { rows, schema: await parquetSchema(conn, control, parquet[0]) };
  });
}
