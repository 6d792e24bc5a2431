// A project's own steps as activities, registered by `lakeforge worker` beside the built-in kinds: one activity per
// step, named as the step, each through the kernel like every built-in kind.
import type { DuckDBInstance } from '@duckdb/node-api';
import type { StepResult } from '../../contracts/step-result.js';
import type { LakeDeps } from '../../activities/kernel/input.js';
import { runStep } from '../../activities/kernel/lifecycle.js';
import type { SlotAllocator } from '../../activities/trainer/slots.js';
import { runPythonStep } from '../python/activity.js';
import { userKindOf, type LoadedProject, type TsStep } from './define.js';
import { tsStepImpl } from './activity.js';

/** What the worker shares with its project steps: its DuckDB (TS steps), and on the GPU worker its slots. */
export interface ProjectStepDeps extends LakeDeps {
  /** Required by TypeScript steps (their inputs are DuckDB views); Python steps make one when they need it. */
  duckdb?: DuckDBInstance;
  slots?: SlotAllocator;
  shutdownSignal?: AbortSignal;
  graceMs?: number;
}

export function userStepActivities(project: LoadedProject, deps: ProjectStepDeps, queue: 'etl' | 'gpu'): Record<string, (input: unknown) => Promise<StepResult>> {
  const out: Record<string, (input: unknown) => Promise<StepResult>> = {};
  for (const step of project.config.steps ?? []) {
    if ((step.queue ?? 'etl') !== queue) continue;
    if (step.runtime === 'ts') {
      const impl = tsStepImpl(step as TsStep, userKindOf(step));
      const { duckdb } = deps;
      if (!duckdb) throw new Error(`step ${step.name}: a TypeScript step needs the worker's DuckDB instance`);
      out[step.name] = (input) => runStep(impl, { ...deps, duckdb }, input);
    } else {
      // The worker's own slot allocator, so Python steps and train/evaluate share the GPUs.
      out[step.name] = (input) => runPythonStep(step, { ...deps, projectRoot: project.root, venv: project.config.python?.venv }, input);
    }
  }
  return out;
}
