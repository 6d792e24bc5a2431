import type { DuckDBInstance } from '@duckdb/node-api';
import { createEtlActivities } from '../activities/etl/index.js';
import { createPromoteActivities } from '../activities/training/index.js';

/** Everything the lakeforge-etl queue serves, given the worker's one DuckDB instance. */
export function etlActivities(db: DuckDBInstance) {
  return { ...createEtlActivities({ duckdb: db }), ...createPromoteActivities() };
}
