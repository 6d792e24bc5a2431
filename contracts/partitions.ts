// The `partitions:` parameters of the clean and features steps (pure zod, shared by both kinds).
import { z } from 'zod';

/**
 * Partition fan-out of a clean or features step (opt-in): the input files in batches of `filesPerTask`, one activity
 * per batch (map), at most `concurrency` activities at a time, spread over every ETL worker on the queue. Clean then
 * reduces `buckets` hash buckets of the deduplication identity, one activity each. Past `tasksPerWorkflow` tasks a
 * phase runs in child workflows of that many tasks each, so no history grows with the partition count. Layout only:
 * none of these change the rows, so none is part of the step's version.
 */
const partitionFields = {
  filesPerTask: z.number().int().min(1).max(10_000).default(8),
  concurrency: z.number().int().min(1).max(1_000).default(16),
  tasksPerWorkflow: z.number().int().min(2).max(2_000).default(200),
};
export const PartitionsSchema = z
  .object({ ...partitionFields, buckets: z.number().int().min(1).max(4_096).default(16) })
  .strict();
export const FeaturesPartitionsSchema = z.object(partitionFields).strict();
export type Partitions = z.infer<typeof PartitionsSchema>;
export type FeaturesPartitions = z.infer<typeof FeaturesPartitionsSchema>;
