// What a step kind declares about itself (docs/design.md#the-registry). Pure: the workflow bundle, the spec
// validator, the CLI and the workers all read these declarations from steps/registry.ts.
import type { z } from 'zod';
import type { SpecError } from './spec-error.js';

export type Duration = `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

/** An upstream role: one direct need of one of `kinds`, or the same role of the step bound to role `via`. */
export type InputRole = { kinds: readonly string[] } | { via: string };

export interface PlanContext {
  /** The pipeline's dataset declaration and model default, for kinds whose params default from them. */
  spec: { name: string; model?: string; dataset: Record<string, unknown> };
  stepName: string;
}

export interface StepDefinition<S extends z.ZodType = z.ZodType> {
  kind: string;
  /** One line for `lakeforge validate --help` and the docs. */
  description: string;
  /** The step's `with:` parameters. */
  params: S;
  /** Upstream outputs by role name; the activity receives them as `inputs.<role>`. */
  inputs: Record<string, InputRole>;
  /** Which worker kind serves it by default: `etl` (lakeforge-etl) or `gpu` (lakeforge-gpu). */
  queue: 'etl' | 'gpu';
  timeout: Duration;
  heartbeatTimeout: Duration;
  retry: { maximumAttempts: number };
  /** `own`: the step names the model it trains; `upstream`: it works on its first input's model; `none`. */
  model: 'own' | 'upstream' | 'none';
  /** Fans out over the queue's workers in a child workflow when its params ask for `partitions`. */
  partitioned?: boolean;
  /** Fills defaults from the pipeline (e.g. the dataset's declared columns) before `params` parses. */
  defaults?: (raw: Record<string, unknown>, ctx: PlanContext) => Record<string, unknown>;
  /** Checks on the parsed params that need the step's context; errors' paths are relative to the step. */
  check?: (params: z.infer<S>, ctx: PlanContext) => { params: z.infer<S>; errors: SpecError[] };
}

/** Keeps the literal types of a declaration (its params schema and its input role names) for the activity types. */
export function defineKind<S extends z.ZodType, const I extends Record<string, InputRole>, const Q extends 'etl' | 'gpu'>(
  d: StepDefinition<S> & { inputs: I; queue: Q },
): StepDefinition<S> & { inputs: I; queue: Q } {
  return d;
}
