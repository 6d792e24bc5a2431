// A project's own steps as activities, registered by `lakeforge worker` beside the built-in kinds: one activity per
// step, named as the step, each `runStep(impl, deps, input)` through the kernel like every built-in kind.
import type { StepResult } from '../../../contracts/step-result.js';
import type { EtlDeps } from '../../duckdb/files.js';
import { runStep } from '../../kernel/lifecycle.js';
import { userKindOf, type LoadedProject, type TsStep } from './define.js';
import { tsStepImpl } from './activity.js';

export function userStepActivities(project: LoadedProject, deps: EtlDeps, queue: 'etl' | 'gpu'): Record<string, (input: unknown) => Promise<StepResult>> {
  const out: Record<string, (input: unknown) => Promise<StepResult>> = {};
  for (const step of project.config.steps ?? []) {
    if ((step.queue ?? 'etl') !== queue) continue;
    if (step.runtime === 'ts') {
      const impl = tsStepImpl(step as TsStep, userKindOf(step));
      out[step.name] = (input) => runStep(impl, deps, input);
    }
  }
  return out;
}
