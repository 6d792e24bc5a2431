// The predict step's `with:` parameters. Pure zod.
import { z } from 'zod';
import { ChunksSchema } from '../../contracts/trainer-protocol.js';

/** `name` (its current champion) or `name@version` (that published version). */
export const ModelRefSchema = z.string().regex(/^[A-Za-z0-9][\w.-]*(@[\w.-]+)?$/, 'a model name, or name@version');

export const PredictParamsSchema = z.strictObject({
  model: ModelRefSchema,
  /** Columns copied to every prediction row: the input's keys (default: row_key, or the dataset's declared key). */
  keyColumns: z.array(z.string().min(1)).min(1).optional(),
  /** The text column of the input (default text). */
  textColumn: z.string().min(1).default('text'),
  topK: z.number().int().min(1).default(3),
  batchSize: z.number().int().min(1).optional(),
  /** bf16 autocast on CUDA (the CPU always scores in fp32). */
  bf16: z.boolean().default(true),
  /** Score long texts in windows pooled per row, as evaluate can (default: truncate as the model was trained). */
  chunks: ChunksSchema.optional(),
  /** Rows per output part: the unit a resumed run does not score again. */
  partRows: z.number().int().min(1).default(10_000),
  /** Score in this many shards at once, one GPU slot each, over the queue's workers (workflows/sharded-predict.ts). */
  shards: z.number().int().min(1).max(256).default(1),
  /** Fail (DriftExceeded, not retried) when any drift signal's population stability index exceeds this. */
  maxDrift: z.number().positive().optional(),
  graceSeconds: z.number().positive().optional(),
});
export type PredictParams = z.infer<typeof PredictParamsSchema>;
