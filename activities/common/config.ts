import { resolve, isAbsolute, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { userRoot } from '../../infra/user-root.mjs';

/** The lakeforge package's root (the trainer, built-in SQL); user files resolve against userRoot() instead. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export { userRoot } from '../../infra/user-root.mjs';

export const TASK_QUEUE_ETL = 'lakeforge-etl';
export const TASK_QUEUE_GPU = 'lakeforge-gpu';
export const LAKEFORGE_VERSION = '0.1.0';

/** The environment (docs/design.md#configuration), each with its default for the embedded setup. */
export interface LakeforgeConfig {
  temporalAddress: string;
  temporalNamespace: string;
  lake: string;
  home: string;
  gpus: string | undefined;
  duckdbMemory: string | undefined;
  duckdbThreads: number | undefined;
  /** Task queues; overridable so tests and tenants can run isolated worker fleets on one server. */
  etlTaskQueue: string;
  gpuTaskQueue: string;
}

export function lakeforgeHome(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.LAKEFORGE_HOME ?? '.lakeforge';
  return isAbsolute(home) ? home : resolve(userRoot(env), home);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): LakeforgeConfig {
  const home = lakeforgeHome(env);
  const threads = env.LAKEFORGE_DUCKDB_THREADS ? Number.parseInt(env.LAKEFORGE_DUCKDB_THREADS, 10) : undefined;
  if (threads !== undefined && (!Number.isFinite(threads) || threads < 1)) {
    throw new Error(`LAKEFORGE_DUCKDB_THREADS must be a positive integer, got ${JSON.stringify(env.LAKEFORGE_DUCKDB_THREADS)}`);
  }
  return {
    temporalAddress: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    temporalNamespace: env.TEMPORAL_NAMESPACE ?? 'default',
    lake: env.LAKEFORGE_LAKE ?? pathToFileURL(resolve(userRoot(env), '.lakeforge', 'lake')).href,
    home,
    gpus: env.LAKEFORGE_GPUS,
    duckdbMemory: env.LAKEFORGE_DUCKDB_MEMORY || undefined,
    duckdbThreads: threads,
    etlTaskQueue: env.LAKEFORGE_ETL_TASK_QUEUE || TASK_QUEUE_ETL,
    gpuTaskQueue: env.LAKEFORGE_GPU_TASK_QUEUE || TASK_QUEUE_GPU,
  };
}
