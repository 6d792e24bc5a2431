import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBValue } from '@duckdb/node-api';
import { fileURLToPath } from 'node:url';

/**
 * Quotes an identifier from configuration (a column name) for DuckDB: wrapped in double quotes with embedded
 * quotes doubled. NUL cannot appear in an identifier and is refused.
 */
export function quoteIdent(name: string): string {
  if (name.length === 0 || name.includes('\u0000')) throw new Error(`invalid identifier ${JSON.stringify(name)}`);
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Quotes a string literal. Only for what DuckDB cannot take as a bound parameter (COPY's target path);
 * every configured value goes through Params instead.
 */
export function quoteLiteral(value: string): string {
  if (value.includes('\u0000')) throw new Error('NUL in SQL literal');
  return `'${value.replace(/'/g, "''")}'`;
}

/** Collects bound parameters for one statement and hands out their `$pN` placeholders. */
export class Params {
  readonly values: Record<string, DuckDBValue> = {};
  private n = 0;
  add(value: DuckDBValue): string {
    const name = `p${++this.n}`;
    this.values[name] = value;
    return `$${name}`;
  }
  set(name: string, value: DuckDBValue): string {
    this.values[name] = value;
    return `$${name}`;
  }
}

/**
 * Fills the `{{slot}}` placeholders of a SQL template. Slots only ever receive SQL assembled from quoted
 * identifiers, `$param` placeholders and fixed text, never a raw configured value. A missing slot is a bug.
 */
export function renderSql(template: string, slots: Record<string, string>): string {
  return template.replace(/\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}/gi, (_m, name: string) => {
    if (!(name in slots)) throw new Error(`SQL template slot {{${name}}} has no value`);
    return slots[name];
  });
}

/** The SQL templates of one step kind (its folder's `sql/*.sql`), by file name, read once. Their text is part of the version. */
export function loadSqlDir(dir: string | URL): Record<string, string> {
  const out: Record<string, string> = {};
  const path = dir instanceof URL ? fileURLToPath(dir) : dir;
  for (const f of readdirSync(path).filter((n) => n.endsWith('.sql')).sort()) out[f] = readFileSync(join(path, f), 'utf8');
  return out;
}
