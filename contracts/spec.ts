// The pipeline spec (YAML or the TS builder) as zod schemas. Pure zod: bundled into workflows too,
// so a spec that reaches a worker through a schedule is validated again there.
import { z } from 'zod';
import { ColumnSpecSchema } from '../steps/clean/params.js';

import { REGISTRY, STEP_KINDS, type StepKind } from '../steps/registry.js';
export { STEP_KINDS, type StepKind } from '../steps/registry.js';

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'use lowercase letters, digits, "-" and "_" (at most 63)');
const duration = z.union([z.number().positive(), z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/, 'a duration such as "30s", "10m" or "2h"')]);

export const RetrySchema = z.strictObject({
  maximumAttempts: z.number().int().min(1).optional(),
  initialInterval: duration.optional(),
  backoffCoefficient: z.number().min(1).optional(),
  maximumInterval: duration.optional(),
});
export type RetrySpec = z.infer<typeof RetrySchema>;

/** Temporal task priority: 1 is the most urgent, 5 the lowest; 3 when unset. */
const priority = z.number().int().min(1).max(5);

const stepBase = {
  name,
  needs: z.array(name).default([]),
  /** Overrides of the activity's options: retries, a start-to-close timeout, another task queue. */
  retry: RetrySchema.optional(),
  timeout: duration.optional(),
  /** How long without a heartbeat before the step's worker counts as lost and the step is retried elsewhere. */
  heartbeatTimeout: duration.optional(),
  queue: z.string().min(1).optional(),
  /** Shown in the Web UI next to the activity. */
  summary: z.string().max(200).optional(),
  /** This step's task priority (1 = most urgent … 5), over the run's; see workflows/priority.ts. */
  priority: priority.optional(),
};

const loose = z.record(z.string(), z.unknown());

/** One step: `uses` names a kind of the registry; `with` is checked against that kind's params by the validator. */
export const StepSpecSchema = z.discriminatedUnion('uses', STEP_KINDS.map((k) =>
  z.strictObject({
    ...stepBase,
    uses: z.literal(k),
    ...(REGISTRY[k].model === 'own' ? { model: name.optional() } : {}),
    with: loose.default({}),
  })) as unknown as [StepVariant, ...StepVariant[]]);
type StepVariant = z.ZodObject<typeof stepBase & { uses: z.ZodLiteral<StepKind>; model?: z.ZodOptional<typeof name>; with: z.ZodDefault<typeof loose> }>;

/** A step of a project's own kind (defineStep / pythonStep in lakeforge.config.ts); the validator checks the name. */
export const ProjectStepSpecSchema = z.strictObject({
  ...stepBase,
  uses: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'a step kind: a built-in one or one of the project\'s steps'),
  with: loose.default({}),
});

/** A built-in step by its kind's own schema, anything else as a project step (the validator knows the kinds). */
const AnyStepSpecSchema = z.unknown().transform((v, ctx) => {
  const uses = (v as { uses?: unknown } | null)?.uses;
  const schema = typeof uses === 'string' && (STEP_KINDS as string[]).includes(uses) ? StepSpecSchema : ProjectStepSpecSchema;
  const r = schema.safeParse(v);
  if (r.success) return r.data as BuiltinStepSpec | ProjectStepSpec;
  for (const issue of r.error.issues) ctx.issues.push({ ...issue, input: undefined } as never);
  return z.NEVER;
});
type BuiltinStepSpec = z.infer<typeof StepSpecSchema>;
export type ProjectStepSpec = z.infer<typeof ProjectStepSpecSchema>;
export type StepSpec = BuiltinStepSpec | ProjectStepSpec;

export const DatasetSpecSchema = z.strictObject({
  /** The raw Parquet files are read from raw/<name>/ in the lake. */
  name,
  /** Defaults for the clean step: the declared schema, the key and the label set. */
  columns: z.array(ColumnSpecSchema).min(1).optional(),
  key: z.array(z.string().min(1)).min(1).optional(),
  timestamp: z.string().min(1).optional(),
  labels: z.strictObject({ column: z.string().min(1), values: z.array(z.string().min(1)).min(1) }).optional(),
});

export const PipelineSpecSchema = z.strictObject({
  name,
  description: z.string().optional(),
  /** Lake root URI; default LAKEFORGE_LAKE. */
  lake: z.string().regex(/^(file:\/\/\/|gs:\/\/|s3:\/\/)/, 'a file:///abs/dir, gs://bucket/prefix or s3://bucket/prefix URI').optional(),
  dataset: DatasetSpecSchema,
  /** The model name under models/; default the pipeline's name. */
  model: name.optional(),
  /** The run's task priority (1 = most urgent … 5, default 3; backfilled schedule runs default to 5). */
  priority: priority.optional(),
  /** The team (tenant) that owns the pipeline: its fair-share key between teams at the same priority. */
  team: z.string().min(1).max(64).optional(),
  /** The team's share relative to others (default 1; the server clamps to 0.001…1000). */
  fairnessWeight: z.number().min(0.001).max(1000).optional(),
  defaults: z.strictObject({ retry: RetrySchema.optional(), timeout: duration.optional(), heartbeatTimeout: duration.optional() }).optional(),
  steps: z.array(AnyStepSpecSchema).min(1),
});
export type PipelineSpec = z.infer<typeof PipelineSpecSchema>;
export type PipelineSpecInput = Omit<z.input<typeof PipelineSpecSchema>, 'steps'> & { steps: (z.input<typeof StepSpecSchema> | z.input<typeof ProjectStepSpecSchema>)[] };
