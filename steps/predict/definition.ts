import { defineKind } from '../../contracts/step-kind.js';
import { PredictParamsSchema } from './params.js';

/** predict: a model (its champion, or a named version) over a clean, features or sql output → predictions/<dataset>/<v>/. */
export const predictKind = defineKind({
  kind: 'predict',
  description: 'Score every row of a clean, features or sql output with a model (its champion by default); predictions and drift',
  params: PredictParamsSchema,
  inputs: { input: { kinds: ['clean', 'features', 'sql'] } },
  queue: 'gpu',
  timeout: '12h',
  heartbeatTimeout: '60s',
  retry: { maximumAttempts: 10 },
  model: 'none',
  defaults: (raw, ctx) => {
    const key = ctx.spec.dataset.key as string[] | undefined;
    return raw.keyColumns === undefined && Array.isArray(key) && key.length > 0 ? { ...raw, keyColumns: key } : raw;
  },
});
