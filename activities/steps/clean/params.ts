import { z } from 'zod';

/** Column types a dataset spec may declare. Fixed SQL type names: safe to place in SQL text. */
export const ColumnTypeSchema = z.enum(['VARCHAR', 'BIGINT', 'INTEGER', 'DOUBLE', 'BOOLEAN', 'DATE', 'TIMESTAMP', 'VARCHAR[]']);
export type ColumnType = z.infer<typeof ColumnTypeSchema>;

const columnName = z
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

/**
 * Partition fan-out of a clean or features step (opt-in): the input files in batches of `filesPerTask`, one activity
 * per batch (map), at most `concurrency` activities at a time, spread over every ETL worker on the queue. Clean then
 * reduces `buckets` hash buckets of the deduplication identity, one activity each. Past `tasksPerWorkflow` tasks a
 * phase runs in child workflows of that many tasks each, so no history grows with the partition count. Layout only:
 * none of these change the rows, so none is part of the step's version.
 */
const partitionFields = {
  filesPerTask: z.number().int().min(1).max(10_000).default(8),
  concurrency: z.number().int().min(1).max(1_000).default(16),
  tasksPerWorkflow: z.number().int().min(2).max(2_000).default(200),
};
export const PartitionsSchema = z
  .object({ ...partitionFields, buckets: z.number().int().min(1).max(4_096).default(16) })
  .strict();
export const FeaturesPartitionsSchema = z.object(partitionFields).strict();
export type Partitions = z.infer<typeof PartitionsSchema>;
export type FeaturesPartitions = z.infer<typeof FeaturesPartitionsSchema>;

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

export const TaskSchema = z.enum(['text-classification', 'sequence-classification', 'token-classification']);

export const FeaturesParamsSchema = z
  .object({
    /** `sequence-classification` (DESIGN.md §4's name) is accepted as a synonym of `text-classification`. */
    task: TaskSchema,
    textColumn: columnName.default('text'),
    labelColumn: columnName.default('label'),
    tokensColumn: columnName.default('tokens'),
    tagsColumn: columnName.default('tags'),
    /** Columns making up `row_key`; default: the clean step's key, else a hash of the text/tokens. */
    keyColumns: z.array(columnName).min(1).optional(),
    /** The label (or tag) set; ids are positions in the sorted set. Default: the clean step's label set, else the labels present. */
    labels: z.array(z.string().min(1)).min(1).optional(),
    split: z
      .object({
        train: z.number().min(0).max(1).default(0.8),
        val: z.number().min(0).max(1).default(0.1),
        test: z.number().min(0).max(1).default(0.1),
        /** Salt of the split hash: a different seed gives a different, equally deterministic split. */
        seed: z.string().default('lakeforge'),
        /** Split each label separately, so every split has the label distribution of the whole. */
        stratify: z.boolean().default(false),
      })
      .strict()
      .default({ train: 0.8, val: 0.1, test: 0.1, seed: 'lakeforge', stratify: false })
      .refine((s) => Math.abs(s.train + s.val + s.test - 1) < 1e-9, 'split fractions must add up to 1'),
    rowGroupSize: z.number().int().min(1_024).max(1_048_576).default(122_880),
    /** Fan the step out over the ETL workers, a batch of clean files per activity (see PartitionsSchema). */
    partitions: FeaturesPartitionsSchema.optional(),
  })
  .strict()
  .refine((p) => !(p.task === 'token-classification' && p.split.stratify), 'stratified splits need a single label per row (text classification)')
  .refine((p) => !(p.partitions && p.split.stratify), {
    path: ['split', 'stratify'],
    message: 'a stratified split ranks each label over the whole dataset: not available with partitions',
  });
export type FeaturesParams = z.infer<typeof FeaturesParamsSchema>;
export type FeaturesParamsInput = z.input<typeof FeaturesParamsSchema>;

/**
 * Top-level lake directories of DESIGN.md §2: a sql step's output (`<output>/<dataset>/<version>/`) may not take one
 * of these names.
 */
export const RESERVED_LAKE_DIRS = ['raw', 'clean', 'rejects', 'features', 'checkpoints', 'models'] as const;

/** The name a sql step publishes under: one lowercase path segment, like step names. */
export const SqlOutputNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'use lowercase letters, digits, "-" and "_" (at most 63)')
  .refine((s) => !(RESERVED_LAKE_DIRS as readonly string[]).includes(s), `reserved for the lake layout (${RESERVED_LAKE_DIRS.join(', ')})`);


/**
 * The path of a custom SQL file, relative to the repository root and inside its `sql/` directory. Pure: whether
 * the file exists is checked where there is I/O (the CLI before starting, the activity when it runs).
 */
const SQL_FILE_HINT = 'a .sql file under the repository\'s sql/ directory, e.g. sql/custom/drop_short_texts.sql';
export const SqlFilePathSchema = z
  .string()
  .max(512)
  // Segments start with a letter, digit or "_": no "..", no hidden files, no absolute paths, no backslashes.
  .regex(/^sql\/(?:[A-Za-z0-9_][A-Za-z0-9_.-]*\/)*[A-Za-z0-9_][A-Za-z0-9_.-]*$/, { error: (iss) => `${JSON.stringify(iss.input)} is outside sql/: use ${SQL_FILE_HINT}`, abort: true })
  .superRefine((f, ctx) => {
    if (!f.endsWith('.sql')) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(f)} is not a .sql file: use ${SQL_FILE_HINT}` });
    }
  });

/** A value bound to a named DuckDB parameter `$name`: a scalar, or a list of strings or of numbers. */
export const SqlParamValueSchema = z.union(
  [z.string(), z.number().finite(), z.boolean(), z.array(z.string()), z.array(z.number().finite())],
  { error: 'a parameter value is a string, a number, a boolean, or a list of strings or of numbers' },
);
export type SqlParamValue = z.infer<typeof SqlParamValueSchema>;

export const SqlParamsSchema = z
  .object({
    /** The query: a single SELECT over the view `input` (the upstream step's output). */
    file: SqlFilePathSchema,
    /** Bound as named parameters: `$min_chars` in the SQL takes `params.min_chars`. Every one must be used. */
    params: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/), SqlParamValueSchema, {
        error: (iss) => (iss.code === 'invalid_key' ? `parameter names are identifiers ($name): letters, digits and "_", not starting with a digit` : undefined),
      })
      .default({}),
    /** Publishes under `<output>/<dataset>/<version>/`; default the step's name. */
    output: SqlOutputNameSchema.optional(),
  })
  .strict();
export type SqlParams = z.infer<typeof SqlParamsSchema>;
export type SqlParamsInput = z.input<typeof SqlParamsSchema>;
