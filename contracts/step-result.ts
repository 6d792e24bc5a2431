import { z } from 'zod';

/** What every step activity returns (docs/design.md#stepresult): a reference to a published lake directory, never rows. */
export const StepResultSchema = z.object({
  step: z.string(),
  version: z.string(),
  uri: z.string(),
  cached: z.boolean(),
  rows: z.number().int().nonnegative().optional(),
  metrics: z.record(z.string(), z.number()).optional(),
  manifest: z.string(),
});
export type StepResult = z.infer<typeof StepResultSchema>;
