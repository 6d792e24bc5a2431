// The ETL worker: task queue lakeforge-etl, one DuckDB instance for the process.
// Worker.run() drains in-flight tasks on SIGINT/SIGTERM before it returns (graceful shutdown).
import { Worker, type ActivityInterceptorsFactory } from '@temporalio/worker';
import type { DuckDBInstance } from '@duckdb/node-api';
import { loadConfig } from '../activities/common/config.js';
import { connectWorker } from '../activities/common/temporal-connection.js';
import { createDuckDb } from '../activities/duckdb/instance.js';
import { etlActivities } from './etl-activities.js';
import { workflowCode } from './workflows-path.js';
import { isMain } from './is-main.js';
import { installMetricsRuntime, metricsActivityInterceptor } from './metrics.js';
import { keepAliveIntervalMs, keepTaskQueueLoaded } from './queue-keepalive.js';

export interface EtlWorkerOptions {
  taskQueue?: string;
  /** More activity interceptors (bench/peers times each step's start and end with one), after the metrics'. */
  activityInterceptors?: ActivityInterceptorsFactory[];
  /** More activities on this queue (a project's own steps, workers/project.ts), given the worker's DuckDB. */
  extraActivities?: (deps: { duckdb: DuckDBInstance }) => Record<string, (...args: never[]) => Promise<unknown>> | Promise<Record<string, (...args: never[]) => Promise<unknown>>>;
}

export async function createEtlWorker(opts: EtlWorkerOptions = {}) {
  const metricsPort = installMetricsRuntime();
  const connection = await connectWorker();
  const db = await createDuckDb();
  const taskQueue = opts.taskQueue ?? loadConfig().etlTaskQueue;
  const worker = await Worker.create({
    connection,
    namespace: loadConfig().temporalNamespace,
    taskQueue,
    ...(await workflowCode()),
    activities: { ...etlActivities(db), ...(await opts.extraActivities?.({ duckdb: db })) },
    // Only with metrics on: recording reads the step's manifests for the byte counts.
    interceptors: { activity: [...(metricsPort ? [metricsActivityInterceptor] : []), ...(opts.activityInterceptors ?? [])] },
    shutdownGraceTime: '30s',
  });
  // Big steps can hold every activity slot for long too: keep the queue's priority order loaded meanwhile.
  const stopKeepAlive = keepTaskQueueLoaded(connection, {
    namespace: loadConfig().temporalNamespace, taskQueue, intervalMs: keepAliveIntervalMs(), log: (m) => process.stderr.write(`${m}\n`),
  });
  return { worker, close: async () => { stopKeepAlive(); db.closeSync(); await connection.close(); } };
}

if (isMain(import.meta.url)) {
  const { worker, close } = await createEtlWorker();
  process.stderr.write(`[lakeforge] ETL worker polling ${loadConfig().etlTaskQueue}\n`);
  await worker.run();
  await close();
}
