import { defineKind } from '../../contracts/step-kind.js';
import { FeaturesParamsSchema } from './params.js';

/** features: clean (or sql) output → features/<dataset>/<v>/split=train|val|test/ with a label map. */
export const featuresKind = defineKind({
  kind: 'features',
  description: 'Normalize text or tokens, map labels to ids and split train/val/test deterministically by row key',
  params: FeaturesParamsSchema,
  inputs: { input: { kinds: ['clean', 'sql', 'user'] } },
  queue: 'etl',
  timeout: '2h',
  heartbeatTimeout: '2m',
  retry: { maximumAttempts: 5 },
  model: 'none',
  partitioned: true,
});
