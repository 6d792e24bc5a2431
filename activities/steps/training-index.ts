import type { StepResult } from '../../contracts/step-result.js';
import { loadConfig } from '../common/config.js';
import { resolveDeps, type GpuActivityDeps } from '../kernel/training-common.js';
import { evaluate, type EvaluateInput } from './evaluate/activity.js';
import { promote, type PromoteInput } from './promote/activity.js';
import { train, type TrainInput } from './train/activity.js';

export { TrainParamsSchema, TrainInputSchema, type TrainParams, type TrainParamsInput, type TrainInput } from './train/activity.js';
export { EvaluateParamsSchema, EvaluateInputSchema, type EvaluateParams, type EvaluateInput } from './evaluate/activity.js';
export { PromoteParamsSchema, PromoteInputSchema, ChampionSchema, readChampion, championRel, type PromoteParams, type PromoteInput, type Champion } from './promote/activity.js';
export type { TrainHeartbeat } from '../trainer/supervise.js';
export type { GpuActivityDeps } from '../kernel/training-common.js';
export { SlotAllocator, resolveSlots, parseGpuSpec, CPU_SLOT, type Slot } from '../trainer/slots.js';
export { liveTrainerPids, preemptAllTrainers } from '../trainer/launcher.js';

/** Promotion reads the evaluation and writes champion.json: lake I/O only, so the ETL queue serves it by default. */
export function createPromoteActivities(deps: Pick<GpuActivityDeps, 'home' | 'lakeOptions'> = {}) {
  const home = deps.home ?? loadConfig().home;
  const d = { lakeOptions: { home, ...deps.lakeOptions } };
  return {
    async promote(input: PromoteInput): Promise<StepResult> {
      return promote(d, input);
    },
  };
}

/**
 * The activities of the lakeforge-gpu queue. Promote is served here too, so runs started before promotion moved to
 * the ETL queue (or pinned to the GPU queue with a step `queue:`) still complete.
 */
export function createGpuActivities(deps: GpuActivityDeps = {}) {
  const d = resolveDeps(deps);
  return {
    async train(input: TrainInput): Promise<StepResult> {
      return train(d, input);
    },
    async evaluate(input: EvaluateInput): Promise<StepResult> {
      return evaluate(d, input);
    },
    async promote(input: PromoteInput): Promise<StepResult> {
      return promote(d, input);
    },
  };
}
export type GpuActivities = ReturnType<typeof createGpuActivities>;
