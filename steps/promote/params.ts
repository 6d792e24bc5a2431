// The promote step's `with:` parameters. Pure zod.
import { z } from 'zod';

export const PromoteParamsSchema = z.strictObject({
  /** A headline metric of the evaluation, e.g. `accuracy`, `macro_f1`, `f1`, `loss`. */
  metric: z.string().min(1),
  /** The candidate must reach it (≥ for max, ≤ for min). */
  threshold: z.number(),
  mode: z.enum(['max', 'min']).default('max'),
  /** Also require the candidate to be at least as good as the current champion on the same metric. */
  mustBeatChampion: z.boolean().default(true),
  /**
   * Also require the candidate to be at least as good as the evaluation's best baseline (TF-IDF + logistic regression,
   * most-frequent tag, majority) on the same metric. An evaluation without baselines skips this rule, and says so.
   */
  mustBeatBaseline: z.boolean().default(true),
});
export type PromoteParams = z.infer<typeof PromoteParamsSchema>;
