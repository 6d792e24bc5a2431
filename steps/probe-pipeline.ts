// probePipeline: one cache probe for the whole DAG, at the start of a run (workflows/pipeline-probe.ts). The lake
// already knows every version: walking the steps in order, each built-in step whose inputs are all answered gets
// the kernel's own plan and cache check (probeStep: parse, resolve and verify the upstream publications, plan the
// version, check the manifests and files). A fully cached run is this one activity, not one per step.
// What is not answered here (a miss, a project step, a partitioned step, promote, an error) runs as before; a step's
// own activity checks the cache again, so a probe that is wrong or missing never changes a result.
import { Context } from '@temporalio/activity';
import type { StepResult } from '../contracts/step-result.js';
import type { StepInput } from '../contracts/step-input.js';
import { probeStep, type StepImpl } from '../activities/kernel/lifecycle.js';
import { openStepLake, type LakeDeps } from '../activities/kernel/input.js';
import { datasetName } from '../activities/lake/index.js';
import { rawObjects } from './clean/activity.js';
import { STEP_IMPLS } from './activities.js';
import { isStepKind, type StepKind } from './registry.js';

/** One step as the workflow would dispatch it, its inputs named by the steps they come from. */
export interface ProbeStep {
  name: string;
  kind: string;
  /** role → the name of the step whose output it is */
  inputs: Record<string, string>;
  input: Omit<StepInput<StepKind>, 'inputs'>;
}
export interface ProbePipelineInput { steps: ProbeStep[] }
export interface ProbePipelineOutput {
  cached: Record<string, StepResult>;
  probed: number;
  /** Bytes of raw input of each clean step that is not cached: the workflow runs a small one inline. */
  rawBytes: Record<string, number>;
  /**
   * The queue of the worker that ran the probe, a local activity on the worker running the workflow: recorded in
   * the history, so the workflow's choice to run a step inline on it replays the same (the replayer's own queue
   * differs), and absent when the probe did not run, so nothing runs inline there.
   */
  taskQueue?: string;
}

/** Kinds whose plan only reads: promote decides (and writes) in its plan, so it is never probed. */
const PROBEABLE = new Set<string>(['clean', 'features', 'sql', 'train', 'evaluate']);

export function createPipelineProbe(depsOf: (kind: StepKind) => LakeDeps) {
  return {
    async probePipeline({ steps }: ProbePipelineInput): Promise<ProbePipelineOutput> {
      const cached: Record<string, StepResult> = {};
      const rawBytes: Record<string, number> = {};
      let probed = 0;
      for (const s of steps) {
        if (!isStepKind(s.kind) || !PROBEABLE.has(s.kind)) continue;
        const froms = Object.values(s.inputs);
        if (!froms.every((f) => cached[f])) continue; // an input not cached: this step computes
        const inputs = Object.fromEntries(Object.entries(s.inputs).map(([role, from]) => [role, cached[from]]));
        probed++;
        try {
          const hit = await probeStep(STEP_IMPLS[s.kind] as unknown as StepImpl<StepKind, LakeDeps, unknown>, depsOf(s.kind), { ...s.input, inputs });
          if (hit) cached[s.name] = hit;
          else if (s.kind === 'clean') {
            const objects = await rawObjects(openStepLake(depsOf(s.kind), s.input.lake), datasetName(s.input.dataset));
            rawBytes[s.name] = objects.reduce((n, o) => n + o.size, 0);
          }
        } catch {
          // Bad input, an unreadable upstream: the step's own activity fails with the named error, retried as it should.
        }
      }
      return { cached, probed, rawBytes, taskQueue: Context.current().info.taskQueue };
    },
  };
}
export type PipelineProbeActivities = ReturnType<typeof createPipelineProbe>;
