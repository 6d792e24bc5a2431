// A project's own step kind as it travels in the workflow input (docs/projects.md): the declaration the workflow
// needs to validate and dispatch it (queue, timeouts, input roles), never its code. The client reads it from the
// project's lakeforge.config.ts; workers started from the project register the code under the same name.
import { z } from 'zod';

const duration = z.string().regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, 'a duration such as "30s", "10m" or "2h"');
const kindName = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'use lowercase letters, digits, "-" and "_", starting with a letter');

export const UserKindSchema = z.strictObject({
  kind: kindName,
  description: z.string().max(300).default(''),
  /** `ts`: a defineStep module run in the worker process; `python`: a script run in the project's venv. */
  runtime: z.enum(['ts', 'python']),
  queue: z.enum(['etl', 'gpu']).default('etl'),
  timeout: duration.default('2h'),
  heartbeatTimeout: duration.default('2m'),
  retry: z.strictObject({ maximumAttempts: z.number().int().min(1) }).default({ maximumAttempts: 5 }),
  /**
   * Upstream roles: each one direct need of one of `kinds` (`user` stands for any project step). Default: one
   * `input` of any ETL kind or project step.
   */
  inputs: z.record(z.string().regex(/^[a-z][A-Za-z0-9_]*$/), z.strictObject({ kinds: z.array(z.string()).min(1) }))
    .default({ input: { kinds: ['clean', 'features', 'sql', 'user'] } }),
  /** The JSON Schema of its `with:` (from its zod schema), so the workflow and `lakeforge validate` can show it. */
  paramsJsonSchema: z.record(z.string(), z.unknown()).optional(),
});
export type UserKind = z.infer<typeof UserKindSchema>;
export type UserKindInput = z.input<typeof UserKindSchema>;
