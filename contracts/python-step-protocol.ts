// A project's Python step (docs/python-steps.md): its step.json and its stdout events, mirrored by
// trainer/lakeforge_trainer/step.py. The same process contract as the trainer (exit codes, stdin pipe, JSON lines).
import { z } from 'zod';
import { CheckpointEventSchema, ErrorEventSchema, EVENT_BASE, int, MetricsSchema, posInt } from './trainer-protocol.js';


/** One upstream role, staged: `dir` holds the publication's files under their paths (`split=train/part-0.parquet`). */
export const PythonStepInputSchema = z.strictObject({
  dir: z.string().min(1),
  /** Local paths of the publication's Parquet files, in manifest order. */
  files: z.array(z.string()),
  /** The upstream `_manifest.json`, as published. */
  manifest: z.record(z.string(), z.unknown()),
  uri: z.string(),
  version: z.string(),
});

export const PythonStepConfigSchema = z.strictObject({
  /** The pipeline step's name and the project kind it runs. */
  step: z.string().min(1),
  kind: z.string().min(1),
  run_id: z.string().min(1),
  dataset: z.string().min(1),
  attempt: posInt(),
  /** Absolute path of the script being run. */
  script: z.string().min(1),
  /** The step's `with:`, validated by its zod schema, defaults applied. */
  params: z.record(z.string(), z.unknown()),
  inputs: z.record(z.string(), PythonStepInputSchema),
  /** The one directory the script may write its outputs into; published as the step's output. */
  work_dir: z.string().min(1),
  /** GPU queue only: where to write `step-N/` checkpoints (synced to the lake); null on the ETL queue. */
  checkpoint_dir: z.string().nullable().default(null),
  /** A `step-N` checkpoint directory to resume from (a retry after a preemption or a crash), or null. */
  resume_from: z.string().nullable().default(null),
  keep_last: posInt().default(2),
  device: z.strictObject({
    queue: z.enum(['etl', 'gpu']),
    /** The slot held (a GPU index, `cpu`), null on the ETL queue. */
    slot: z.string().nullable(),
    kind: z.enum(['gpu', 'cpu']),
    cuda_visible_devices: z.string(),
  }),
});
export type PythonStepConfig = z.infer<typeof PythonStepConfigSchema>;
export type PythonStepConfigInput = z.input<typeof PythonStepConfigSchema>;

const scalar = z.union([z.number(), z.string(), z.boolean(), z.null()]);

export const StepStartedEventSchema = z.object({
  event: z.literal('started'),
  ...EVENT_BASE,
  device: z.string(),
  pid: int(),
  resumed_from_step: int().min(0).nullable(),
});

/** What the script reports, as it likes: scalars only; `step`/`total_steps` (integers) drive the progress bar. */
export const StepProgressEventSchema = z
  .object({ event: z.literal('progress'), ...EVENT_BASE, step: int().min(0).optional(), total_steps: int().min(0).optional() })
  .catchall(scalar);

export const StepDoneEventSchema = z.object({
  event: z.literal('done'),
  ...EVENT_BASE,
  metrics: MetricsSchema,
});

export const PythonStepEventSchema = z.discriminatedUnion('event', [
  StepStartedEventSchema,
  StepProgressEventSchema,
  CheckpointEventSchema,
  StepDoneEventSchema,
  ErrorEventSchema,
]);
export type PythonStepEvent = z.infer<typeof PythonStepEventSchema>;
export type StepProgressEvent = z.infer<typeof StepProgressEventSchema>;

