import { defineKind } from '../../contracts/step-kind.js';
import { PromoteParamsSchema } from './params.js';

/** promote: the gate that names a model version in models/<model>/champion.json. */
export const promoteKind = defineKind({
  kind: 'promote',
  description: 'Make the evaluated model the champion when it meets the threshold and beats the current champion',
  params: PromoteParamsSchema,
  inputs: { evaluated: { kinds: ['evaluate'] } },
  // Only reads and writes the lake: no GPU slot for it.
  queue: 'etl',
  timeout: '10m',
  heartbeatTimeout: '2m',
  retry: { maximumAttempts: 5 },
  model: 'upstream',
});
