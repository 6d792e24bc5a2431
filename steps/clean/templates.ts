import { loadSqlDir } from '../../activities/duckdb/sql.js';

/** The clean kind's SQL templates by file name; their text is part of its version (docs/design.md#versions). */
export const CLEAN_SQL = loadSqlDir(new URL('./sql/', import.meta.url));
