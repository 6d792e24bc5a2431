// The one activity input every step kind takes: the run's identity, the upstream outputs by role, the params.
import { z } from 'zod';
import type { StepKind } from '../steps/registry.js';
import type { REGISTRY } from '../steps/registry.js';
import type { StepDefinition } from './step-kind.js';
import { StepResultSchema, type StepResult } from './step-result.js';

export const StepInputBaseSchema = z.object({
  /** Lake root URI; default the worker's LAKEFORGE_LAKE. */
  lake: z.string().min(1).optional(),
  dataset: z.string().min(1),
  /** The step's name in the pipeline. */
  step: z.string().min(1),
  /** The pipeline run (checkpoints live under `checkpoints/<runId>/<step>/`). */
  runId: z.string().min(1),
  /** The model a train/evaluate/promote step works on. */
  model: z.string().min(1).optional(),
});

/** The zod schema of a kind's activity input, from its declaration. */
export function stepInputSchema(def: StepDefinition) {
  const roles = Object.fromEntries(Object.keys(def.inputs).map((r) => [r, StepResultSchema]));
  return StepInputBaseSchema.extend({ inputs: z.strictObject(roles), params: def.params }).strict();
}

type Registry = typeof REGISTRY;
/** A kind's `with:` as written (defaults optional), from its declared params schema. */
export type ParamsOf<K extends StepKind> = z.input<Registry[K]['params']>;
export type StepInput<K extends StepKind> = z.input<typeof StepInputBaseSchema> & {
  inputs: { [R in keyof Registry[K]['inputs']]: StepResult };
  params: z.input<Registry[K]['params']>;
};
/** The same after parsing: params with their defaults applied. */
export type ParsedStepInput<K extends StepKind> = z.output<typeof StepInputBaseSchema> & {
  inputs: { [R in keyof Registry[K]['inputs']]: StepResult };
  params: z.output<Registry[K]['params']>;
};
