import { DuckDBInstance } from '@duckdb/node-api';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../common/config.js';

/** DuckDB settings (docs/design.md#configuration); temp_directory lets large sorts and joins spill to disk. */
export interface DuckDbSettings {
  memoryLimit?: string;
  threads?: number;
  tempDirectory: string;
}

export function duckDbSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): DuckDbSettings {
  const cfg = loadConfig(env);
  return { memoryLimit: cfg.duckdbMemory, threads: cfg.duckdbThreads, tempDirectory: join(cfg.home, 'duckdb-tmp') };
}

/**
 * One in-memory DuckDB instance per worker process. Activities open their own connection from it for each
 * statement sequence, since a connection must never be shared by concurrent statements.
 */
export async function createDuckDb(settings: DuckDbSettings = duckDbSettingsFromEnv()): Promise<DuckDBInstance> {
  mkdirSync(settings.tempDirectory, { recursive: true });
  const options: Record<string, string> = { temp_directory: settings.tempDirectory };
  if (settings.memoryLimit) options.memory_limit = settings.memoryLimit;
  if (settings.threads) options.threads = String(settings.threads);
  return DuckDBInstance.create(':memory:', options);
}
