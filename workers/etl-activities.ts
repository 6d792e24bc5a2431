import type { DuckDBInstance } from '@duckdb/node-api';
import { createEtlActivities } from '../steps/index.js';
import { createPromoteActivities } from '../steps/index.js';

/** Everything the lakeforge-etl queue serves, given the worker's one DuckDB instance. */
export function etlActivities(db: DuckDBInstance) {
  return { ...createEtlActivities({ duckdb: db }), ...createPromoteActivities() };
}
