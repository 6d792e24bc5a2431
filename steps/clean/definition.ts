import { defineKind } from '../../contracts/step-kind.js';
import { CleanParamsSchema } from './params.js';

/** clean: raw/<dataset>/ → clean/<dataset>/<v>/ and rejects/<dataset>/<v>/ (every dropped row with its reason). */
export const cleanKind = defineKind({
  kind: 'clean',
  description: 'Coerce, validate, deduplicate and drop outliers from the raw Parquet files; every dropped row goes to rejects/ with its reason',
  params: CleanParamsSchema,
  inputs: {},
  queue: 'etl',
  timeout: '2h',
  heartbeatTimeout: '2m',
  retry: { maximumAttempts: 5 },
  model: 'none',
  partitioned: true,
  // The dataset's declared schema, key and labels are the clean step's defaults; the step's own `with` wins.
  defaults: (own, { spec }) => {
    const d = spec.dataset;
    const out: Record<string, unknown> = {};
    for (const k of ['columns', 'key', 'timestamp', 'labels']) if (d[k] !== undefined) out[k] = d[k];
    return { ...out, ...own };
  },
});
