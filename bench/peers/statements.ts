// The statements lakeforge's clean and features steps run, from their own SQL builders, as plain JSON the peers'
// Python runs on the same DuckDB version (bench/peers/peer_sql.py): the peers do exactly lakeforge's work.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { listValue, type DuckDBInstance } from '@duckdb/node-api';
import { buildCleanSql, buildFeaturesSql, CleanParamsSchema } from '../../steps/index.js';
import type { FeaturesParams } from '../../steps/features/params.js';

export interface Statement { sql: string; params?: Record<string, unknown> }

function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && 'items' in v) return (v as { items: unknown[] }).items.map(plain);
  if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) return v;
  return String(v);
}
const json = (p: Record<string, unknown>) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, plain(v)]));

/** clean over `rawFiles` into <out>/clean/part-0.parquet and <out>/rejects/part-0.parquet. */
export async function cleanStatements(db: DuckDBInstance, rawParams: unknown, rawFiles: string[], out: string): Promise<{ statements: Statement[]; output: string }> {
  const params = CleanParamsSchema.parse(rawParams);
  const conn = await db.connect();
  const described = await conn.runAndReadAll('DESCRIBE SELECT * FROM read_parquet($files, union_by_name = true)', { files: listValue(rawFiles) });
  conn.closeSync();
  const present = new Map((described.getRowObjectsJson() as { column_name: string; column_type: string }[]).map((d) => [d.column_name.toLowerCase(), d.column_type]));
  for (const d of ['clean', 'rejects']) mkdirSync(join(out, d), { recursive: true });
  const output = join(out, 'clean', 'part-0.parquet');
  const cs = buildCleanSql(params, present, rawFiles, output, join(out, 'rejects', 'part-0.parquet'));
  const p = json(cs.params as Record<string, unknown>);
  const [collect, copy] = cs.writeRejects.split(/;\s*\n/);
  const statements = [cs.macro, cs.checked, cs.duplicates, cs.markDuplicates, cs.writeClean, collect, copy, cs.counts, 'DROP TABLE duplicates', 'DROP TABLE checked', 'DROP TABLE rejected']
    .map((sql) => ({ sql, params: p }));
  return { statements, output };
}

/** features over the clean file into <out>/features/split=<s>/. */
export function featuresStatements(params: FeaturesParams, cleanFile: string, out: string): Statement[] {
  const dir = join(out, 'features');
  for (const s of ['train', 'val', 'test']) mkdirSync(join(dir, `split=${s}`), { recursive: true });
  const fs = buildFeaturesSql(params, [cleanFile], dir);
  const p = json(fs.params as Record<string, unknown>);
  return [
    { sql: fs.featurized, params: p }, { sql: fs.checks, params: p },
    ...['train', 'val', 'test'].map((s) => ({ sql: fs.writeSplit(s), params: { split: s } })),
    { sql: 'DROP TABLE featurized' },
  ];
}
