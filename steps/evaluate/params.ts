// The evaluate step's `with:` parameters. Pure zod.
import { z } from 'zod';
import { BaselinesSchema, ChunksSchema, TruncationSchema } from '../../contracts/trainer-protocol.js';

export const EvaluateParamsSchema = z.strictObject({
  /** The features split to evaluate on. */
  split: z.enum(['test', 'val']).default('test'),
  batchSize: z.number().int().min(1).optional(),
  /** Default: the max length the model was trained with. */
  maxLength: z.number().int().min(8).optional(),
  /** Default: the truncation the model was trained with. */
  truncation: TruncationSchema.optional(),
  headTokens: z.number().int().min(1).nullable().optional(),
  /** Score long texts over all their tokens, in windows whose class probabilities are pooled. */
  chunks: ChunksSchema.optional(),
  /** The baselines fitted on the features' train split (TF-IDF settings, or `enabled: false`). */
  baselines: BaselinesSchema.optional(),
  graceSeconds: z.number().positive().optional(),
});
export type EvaluateParams = z.infer<typeof EvaluateParamsSchema>;
