// The evaluate step's `with:` parameters. Pure zod.
import { z } from 'zod';

export const EvaluateParamsSchema = z.strictObject({
  /** The features split to evaluate on. */
  split: z.enum(['test', 'val']).default('test'),
  batchSize: z.number().int().min(1).optional(),
  /** Default: the max length the model was trained with. */
  maxLength: z.number().int().min(8).optional(),
  graceSeconds: z.number().positive().optional(),
});
export type EvaluateParams = z.infer<typeof EvaluateParamsSchema>;
