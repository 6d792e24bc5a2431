import type { DuckDBConnection, DuckDBMaterializedResult, DuckDBType, DuckDBValue } from '@duckdb/node-api';
import type { StepControl } from '../kernel/context.js';
export { currentControl, type StepControl } from '../kernel/context.js';

/** Heartbeats this often while a statement runs (Temporal throttles further to its heartbeat timeout). */
const HEARTBEAT_MS = 2_000;

/**
 * Runs one statement on a connection that nobody else uses concurrently, heartbeating with the stage name and
 * DuckDB's progress while it runs, and interrupting it when the activity is cancelled.
 */
export async function runStatement(
  conn: DuckDBConnection,
  control: StepControl,
  stage: string,
  sql: string,
  params?: Record<string, DuckDBValue>,
  /** Explicit parameter types, where inference from the JS value is not enough (lists, BIGINT). */
  types?: Record<string, DuckDBType | undefined>,
): Promise<DuckDBMaterializedResult> {
  const { signal } = control;
  if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
  const beat = () => {
    let progress: number | undefined;
    try {
      progress = conn.progress.percentage;
    } catch {
      progress = undefined;
    }
    control.heartbeat({ stage, progress });
  };
  beat();
  const timer = setInterval(beat, HEARTBEAT_MS);
  const onAbort = () => conn.interrupt();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return params && Object.keys(params).length ? await conn.run(sql, params, types) : await conn.run(sql);
  } catch (err) {
    // An interrupted statement fails with DuckDB's INTERRUPT error; report the cancellation instead.
    if (signal?.aborted) throw signal.reason ?? err;
    throw err;
  } finally {
    clearInterval(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Runs a query and returns its rows as JSON-friendly objects (BIGINT → string, lists → arrays). */
export async function queryRows(
  conn: DuckDBConnection,
  control: StepControl,
  stage: string,
  sql: string,
  params?: Record<string, DuckDBValue>,
): Promise<Record<string, unknown>[]> {
  const result = await runStatement(conn, control, stage, sql, params);
  return (await result.getRowObjectsJson()) as Record<string, unknown>[];
}
