// THE step registry: every built-in kind, one line each. Pure (declarations only, no I/O): the spec validator, the
// pipeline workflow, the CLI and the workers read it. The worker-side implementation of each kind is bound to its
// name in steps/activities.ts, which tsc checks against this list.
import { cleanKind } from './clean/definition.js';
import { evaluateKind } from './evaluate/definition.js';
import { featuresKind } from './features/definition.js';
import { predictKind } from './predict/definition.js';
import { promoteKind } from './promote/definition.js';
import { sqlKind } from './sql/definition.js';
import { trainKind } from './train/definition.js';

export const REGISTRY = {
  clean: cleanKind,
  features: featuresKind,
  train: trainKind,
  evaluate: evaluateKind,
  promote: promoteKind,
  predict: predictKind,
  sql: sqlKind,
} as const;

export type StepKind = keyof typeof REGISTRY;
export const STEP_KINDS = Object.keys(REGISTRY) as StepKind[];
export const isStepKind = (k: string): k is StepKind => Object.hasOwn(REGISTRY, k);
