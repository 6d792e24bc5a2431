// The parameters of the train, evaluate and promote steps (a pipeline step's `with:`). Pure zod, so pipeline
// validation (CLI, SDK and the workflow itself) can check them without loading the activities.
import { z } from 'zod';
import { HparamsSchema, ModelSpecSchema, TaskSchema, TokenizerSpecSchema } from '../trainer/protocol.js';

/** A train step's `with.resources`. gpus: the slots it holds on one worker, one data-parallel rank each. */
export const ResourcesSchema = z.strictObject({
  gpus: z.number().int().min(1, 'resources.gpus must be at least 1 (a train step needs a slot)').default(1),
});
export type Resources = z.infer<typeof ResourcesSchema>;

/** The train step's `with:` parameters. `hparams` are the trainer's own (DESIGN.md §4), passed through. */
export const TrainParamsSchema = z.strictObject({
  /** Default: the features publication's task. */
  task: TaskSchema.optional(),
  model: ModelSpecSchema,
  tokenizer: TokenizerSpecSchema.default({ type: 'train-wordpiece', vocab_size: 8000, lowercase: true }),
  /** Label names in id order; default: the features manifest's label map. */
  labels: z.array(z.string().min(1)).min(1).optional(),
  maxLength: z.number().int().min(8).default(128),
  hparams: HparamsSchema.default(HparamsSchema.parse({})),
  seed: z.number().int().default(42),
  deterministic: z.boolean().default(false),
  // Operational: how often to checkpoint and report, how long a stop may take. Not part of the model's version.
  checkpointEverySteps: z.number().int().min(1).nullable().default(null),
  checkpointEverySeconds: z.number().positive().nullable().default(300),
  keepLast: z.number().int().min(1).default(2),
  progressEverySeconds: z.number().positive().default(5),
  /** SIGTERM → SIGKILL grace on cancel/shutdown: long enough to write one checkpoint. */
  graceSeconds: z.number().positive().optional(),
  /** Slots (GPUs, or CPU slots running gloo) held for the step: N data-parallel ranks (docs/distributed-training.md). */
  resources: ResourcesSchema.optional(),
});
export type TrainParams = z.infer<typeof TrainParamsSchema>;
export type TrainParamsInput = z.input<typeof TrainParamsSchema>;

export const EvaluateParamsSchema = z.strictObject({
  /** The features split to evaluate on. */
  split: z.enum(['test', 'val']).default('test'),
  batchSize: z.number().int().min(1).optional(),
  /** Default: the max length the model was trained with. */
  maxLength: z.number().int().min(8).optional(),
  graceSeconds: z.number().positive().optional(),
});
export type EvaluateParams = z.infer<typeof EvaluateParamsSchema>;

export const PromoteParamsSchema = z.strictObject({
  /** A headline metric of the evaluation, e.g. `accuracy`, `macro_f1`, `f1`, `loss`. */
  metric: z.string().min(1),
  /** The candidate must reach it (≥ for max, ≤ for min). */
  threshold: z.number(),
  mode: z.enum(['max', 'min']).default('max'),
  /** Also require the candidate to be at least as good as the current champion on the same metric. */
  mustBeatChampion: z.boolean().default(true),
});
export type PromoteParams = z.infer<typeof PromoteParamsSchema>;

