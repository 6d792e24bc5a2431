// The sql step's `with:` parameters. Pure zod: pipeline validation (CLI, SDK, the workflow) reads it.
import { z } from 'zod';
import { RESERVED_LAKE_DIRS } from '../../contracts/lake-layout.js';

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
    /**
     * The query text, read from `file` once when the run is submitted and carried in the run's input (kilobytes), so
     * workers need no copy of the project's SQL and a running pipeline never picks up an edited file.
     */
    text: z.string().max(256 * 1024, 'a SQL file of at most 256 KiB').optional(),
  })
  .strict();
export type SqlParams = z.infer<typeof SqlParamsSchema>;
export type SqlParamsInput = z.input<typeof SqlParamsSchema>;
