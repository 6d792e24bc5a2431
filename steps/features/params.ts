// The features step's `with:` parameters. Pure zod: pipeline validation (CLI, SDK, the workflow) reads it.
import { z } from 'zod';
import { FeaturesPartitionsSchema } from '../../contracts/partitions.js';
import { columnName } from '../clean/params.js';

export const TaskSchema = z.enum(['text-classification', 'sequence-classification', 'token-classification']);

export const FeaturesParamsSchema = z
  .object({
    /** `sequence-classification` (the trainer protocol's name, docs/design.md#the-trainer-protocol) is accepted as a synonym of `text-classification`. */
    task: TaskSchema,
    textColumn: columnName.default('text'),
    labelColumn: columnName.default('label'),
    tokensColumn: columnName.default('tokens'),
    tagsColumn: columnName.default('tags'),
    /** Columns making up `row_key`; default: the clean step's key, else a hash of the text/tokens. */
    keyColumns: z.array(columnName).min(1).optional(),
    /** The label (or tag) set; ids are positions in the sorted set. Default: the clean step's label set, else the labels present. */
    labels: z.array(z.string().min(1)).min(1).optional(),
    split: z
      .object({
        train: z.number().min(0).max(1).default(0.8),
        val: z.number().min(0).max(1).default(0.1),
        test: z.number().min(0).max(1).default(0.1),
        /** Salt of the split hash: a different seed gives a different, equally deterministic split. */
        seed: z.string().default('lakeforge'),
        /** Split each label separately, so every split has the label distribution of the whole. */
        stratify: z.boolean().default(false),
      })
      .strict()
      .default({ train: 0.8, val: 0.1, test: 0.1, seed: 'lakeforge', stratify: false })
      .refine((s) => Math.abs(s.train + s.val + s.test - 1) < 1e-9, 'split fractions must add up to 1'),
    rowGroupSize: z.number().int().min(1_024).max(1_048_576).default(122_880),
    /** Fan the step out over the ETL workers, a batch of clean files per activity (see PartitionsSchema). */
    partitions: FeaturesPartitionsSchema.optional(),
  })
  .strict()
  .refine((p) => !(p.task === 'token-classification' && p.split.stratify), 'stratified splits need a single label per row (text classification)')
  .refine((p) => !(p.partitions && p.split.stratify), {
    path: ['split', 'stratify'],
    message: 'a stratified split ranks each label over the whole dataset: not available with partitions',
  });
export type FeaturesParams = z.infer<typeof FeaturesParamsSchema>;
export type FeaturesParamsInput = z.input<typeof FeaturesParamsSchema>;
