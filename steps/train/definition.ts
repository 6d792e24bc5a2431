import { defineKind } from '../../contracts/step-kind.js';
import { TrainParamsSchema } from './params.js';

/** train: features → models/<model>/<v>/, in the trainer process on a GPU slot, resuming from lake checkpoints. */
export const trainKind = defineKind({
  kind: 'train',
  description: 'Fine-tune (or train from a config) a transformers model in the trainer process, checkpointing to the lake',
  params: TrainParamsSchema,
  inputs: { features: { kinds: ['features'] } },
  queue: 'gpu',
  timeout: '48h',
  heartbeatTimeout: '60s',
  retry: { maximumAttempts: 10 },
  model: 'own',
});
