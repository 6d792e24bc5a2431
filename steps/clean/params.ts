import { z } from 'zod';
import { PartitionsSchema } from '../../contracts/partitions.js';
export { PartitionsSchema, FeaturesPartitionsSchema, type Partitions, type FeaturesPartitions } from '../../contracts/partitions.js';

/** Column types a dataset spec may declare. Fixed SQL type names: safe to place in SQL text. */
export const ColumnTypeSchema = z.enum(['VARCHAR', 'BIGINT', 'INTEGER', 'DOUBLE', 'BOOLEAN', 'DATE', 'TIMESTAMP', 'VARCHAR[]']);
export type ColumnType = z.infer<typeof ColumnTypeSchema>;

export const columnName = z
  .string()
  .min(1)
  .max(256)
  .refine((s) => !s.includes('\u0000'), 'column names cannot contain NUL')
  // file_row_number is allowed: the raw reader falls back to its own row numbers for it (clean/columns.ts).
  .refine((s) => !s.startsWith('__') && s.toLowerCase() !== 'reject_reason', 'column names starting with "__" and "reject_reason" are reserved');

export const NullPolicySchema = z.union([
  z.literal('keep'),
  z.literal('drop'),
  z.object({ fill: z.union([z.string(), z.number(), z.boolean()]) }).strict(),
]);

export const ColumnSpecSchema = z
  .object({
    name: columnName,
    type: ColumnTypeSchema,
    /** A required column missing from any input file is SchemaMismatch; an optional one reads as NULL. */
    required: z.boolean().default(true),
    nulls: NullPolicySchema.default('keep'),
    /** Text only: NFC, strip control characters, collapse whitespace, trim; empty text becomes NULL. Default on. */
    normalize: z.boolean().default(true),
  })
  .strict()
  .refine((c) => !(c.type === 'VARCHAR[]' && typeof c.nulls === 'object'), 'fill is not supported for list columns');

const OutlierSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('range'), column: columnName, min: z.number().optional(), max: z.number().optional() }).strict(),
  z.object({ method: z.literal('iqr'), column: columnName, k: z.number().positive().default(1.5) }).strict(),
  z.object({ method: z.literal('length'), column: columnName, min: z.number().int().nonnegative().optional(), max: z.number().int().positive().optional() }).strict(),
]);

const NUMERIC: ColumnType[] = ['BIGINT', 'INTEGER', 'DOUBLE'];


export const CleanParamsSchema = z
  .object({
    columns: z.array(ColumnSpecSchema).min(1),
    /** Duplicates by key: rows sharing these columns keep only the latest by `timestamp`. */
    key: z.array(columnName).min(1).optional(),
    timestamp: columnName.optional(),
    dropExactDuplicates: z.boolean().default(true),
    labels: z.object({ column: columnName, values: z.array(z.string().min(1)).min(1) }).strict().optional(),
    outliers: z.array(OutlierSchema).default([]),
    /** Pairs of list columns that must have equal lengths (tokens and tags). */
    sameLength: z.array(z.tuple([columnName, columnName])).default([]),
    /** Fan the step out over the ETL workers (see PartitionsSchema); absent: one activity does it all. */
    partitions: PartitionsSchema.optional(),
    /** Publish even when every row is rejected (absent: an all-rejected input fails the step with BadInput). */
    allowEmpty: z.boolean().optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    const byName = new Map<string, ColumnType>();
    for (const c of p.columns) {
      if (byName.has(c.name.toLowerCase())) ctx.addIssue({ code: 'custom', message: `column ${JSON.stringify(c.name)} is declared twice` });
      byName.set(c.name.toLowerCase(), c.type);
    }
    const need = (name: string, where: string, types?: ColumnType[]) => {
      const t = byName.get(name.toLowerCase());
      if (!t) ctx.addIssue({ code: 'custom', message: `${where} refers to undeclared column ${JSON.stringify(name)}` });
      else if (types && !types.includes(t)) ctx.addIssue({ code: 'custom', message: `${where}: column ${JSON.stringify(name)} is ${t}, expected ${types.join(' or ')}` });
    };
    for (const k of p.key ?? []) need(k, 'key');
    if (p.timestamp) need(p.timestamp, 'timestamp');
    if (p.timestamp && !p.key) ctx.addIssue({ code: 'custom', message: 'timestamp is only meaningful with a key' });
    if (p.labels) need(p.labels.column, 'labels', ['VARCHAR', 'VARCHAR[]']);
    for (const o of p.outliers) need(o.column, `outliers(${o.method})`, o.method === 'length' ? ['VARCHAR', 'VARCHAR[]'] : NUMERIC);
    for (const [a, b] of p.sameLength) {
      need(a, 'sameLength', ['VARCHAR[]']);
      need(b, 'sameLength', ['VARCHAR[]']);
    }
  });
export type CleanParams = z.infer<typeof CleanParamsSchema>;
export type CleanParamsInput = z.input<typeof CleanParamsSchema>;

