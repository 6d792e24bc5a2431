// The train step's `with:` parameters. Pure zod, so pipeline validation (CLI, SDK and the workflow itself) can
// check them without loading the activities.
import { z } from 'zod';
import { HparamsSchema, ModelSpecSchema, TaskSchema, TokenizerSpecSchema, TruncationSchema, type TokenizerSpec } from '../../contracts/trainer-protocol.js';

/** A train step's `with.resources`. gpus: the slots it holds on one worker, one data-parallel rank each. */
export const ResourcesSchema = z.strictObject({
  gpus: z.number().int().min(1, 'resources.gpus must be at least 1 (a train step needs a slot)').default(1),
  /** Multi-node: the slots each of gpus / gpusPerNode workers holds (docs/distributed-training.md#3-several-machines). */
  gpusPerNode: z.number().int().min(1, 'resources.gpusPerNode must be at least 1').optional(),
}).superRefine((r, ctx) => {
  if (r.gpusPerNode !== undefined && r.gpus % r.gpusPerNode !== 0) {
    ctx.addIssue({ code: 'custom', path: ['gpusPerNode'], message: `resources.gpus (${r.gpus}) must be a multiple of resources.gpusPerNode (${r.gpusPerNode}): every node holds the same number of slots` });
  }
});
export type Resources = z.infer<typeof ResourcesSchema>;

/** The train step's `with:` parameters. `hparams` are the trainer's own (docs/design.md#the-trainer-protocol), passed through. */
export const TrainParamsSchema = z.strictObject({
  /** Default: the features publication's task. */
  task: TaskSchema.optional(),
  model: ModelSpecSchema,
  /** Default: the model's own for `model.pretrained`, else a WordPiece vocabulary learned from train (tokenizerOf). */
  tokenizer: TokenizerSpecSchema.optional(),
  /** Label names in id order; default: the features manifest's label map. */
  labels: z.array(z.string().min(1)).min(1).optional(),
  maxLength: z.number().int().min(8).default(128),
  /** Which tokens of a text longer than maxLength the model sees: `head+tail` keeps both ends. */
  truncation: TruncationSchema.default('head'),
  /** head+tail: tokens kept from the start (default: a quarter of the budget). */
  headTokens: z.number().int().min(1).nullable().default(null),
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
}).superRefine((p, ctx) => {
  // Pretrained weights are indexed by their own vocabulary: another tokenizer's ids would select the wrong embeddings.
  if ('pretrained' in p.model && p.tokenizer?.type === 'train-wordpiece') {
    ctx.addIssue({ code: 'custom', path: ['tokenizer'], message: 'tokenizer: a model.pretrained encoder needs the tokenizer it was trained with; leave tokenizer out (or type: model)' });
  }
  if (p.tokenizer?.type === 'model' && 'config' in p.model) {
    ctx.addIssue({ code: 'custom', path: ['tokenizer'], message: 'tokenizer type model needs a model.pretrained or model.name_or_path to take it from' });
  }
});
export type TrainParams = z.infer<typeof TrainParamsSchema>;
export type TrainParamsInput = z.input<typeof TrainParamsSchema>;

const WORDPIECE_DEFAULT: TokenizerSpec = { type: 'train-wordpiece', vocab_size: 8000, lowercase: true };

/** The tokenizer the trainer gets: the one given, the pretrained encoder's own, or a WordPiece learned from train. */
export function tokenizerOf(p: Pick<TrainParams, 'model' | 'tokenizer'>): TokenizerSpec {
  return p.tokenizer ?? ('pretrained' in p.model ? { type: 'model' } : WORDPIECE_DEFAULT);
}
