import { defineKind } from '../../contracts/step-kind.js';
import { EvaluateParamsSchema } from './params.js';

/** evaluate: a trained model on a features split → models/<model>/<v>/eval/ (metrics.json, predictions, report.html). */
export const evaluateKind = defineKind({
  kind: 'evaluate',
  description: 'Score a trained model on a features split; metrics.json, predictions and report.html under eval/',
  params: EvaluateParamsSchema,
  // The features it scores on are those its model was trained on.
  inputs: { trained: { kinds: ['train'] }, features: { via: 'trained' } },
  queue: 'gpu',
  timeout: '6h',
  heartbeatTimeout: '60s',
  retry: { maximumAttempts: 10 },
  model: 'upstream',
});
