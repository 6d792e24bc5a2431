// probeCache: on the ETL queue, before a train or evaluate step is dispatched to the GPU queue, look for its
// published output. A hit returns the cached StepResult without ever holding or waiting for a GPU slot; a miss
// returns null and the workflow dispatches the step to the GPU queue (whose activity checks the cache again,
// so a probe that is wrong, late or missing never changes a result). Same version functions as the activities.
import { join } from 'node:path';
import { z } from 'zod';
import type { StepResult } from '../../../contracts/step-result.js';
import { verifyPublished } from '../../lake/index.js';
import { loadConfig, REPO_ROOT } from '../../common/config.js';
import { openLakeFor, parseInput, readInput, type GpuActivityDeps, type ResolvedDeps } from '../../kernel/training-common.js';
import { stepResult, trainTarget, TrainInputSchema, type TrainInput } from './activity.js';
import { evaluateTarget, EvaluateInputSchema, type EvaluateInput } from '../evaluate/activity.js';

export type ProbeCacheInput = { kind: 'train'; input: TrainInput } | { kind: 'evaluate'; input: EvaluateInput };

const ProbeKindSchema = z.enum(['train', 'evaluate']);

export async function probeCache(d: Pick<ResolvedDeps, 'trainerDir' | 'lakeOptions'>, probe: ProbeCacheInput): Promise<StepResult | null> {
  const kind = parseInput(ProbeKindSchema, probe?.kind, 'probeCache kind');
  if (kind === 'train') {
    const input = parseInput(TrainInputSchema, probe.input, 'train');
    const lake = openLakeFor(input.lake, d);
    const features = await readInput(lake, input.features, 'features');
    const { version, modelRel } = await trainTarget(d, input, features.manifest);
    const cached = await verifyPublished(lake, modelRel, version);
    return cached.ok ? stepResult(lake, input.step, modelRel, cached.manifest, true) : null;
  }
  const input = parseInput(EvaluateInputSchema, probe.input, 'evaluate');
  const lake = openLakeFor(input.lake, d);
  const trained = await readInput(lake, input.trained, 'trained model');
  const { version, evalRel } = await evaluateTarget(d, input, trained);
  const cached = await verifyPublished(lake, evalRel, version);
  return cached.ok ? stepResult(lake, 'evaluate', evalRel, cached.manifest, true) : null;
}

/** The ETL queue's cache probe (lake reads and the trainer's code hash only: no slot, no Python). */
export function createProbeActivities(deps: Pick<GpuActivityDeps, 'home' | 'lakeOptions' | 'trainerDir'> = {}) {
  const home = deps.home ?? loadConfig().home;
  // The trainer's sources travel in the CPU image too (infra/docker/worker-cpu.Dockerfile): its hash is in the version.
  const d = { trainerDir: deps.trainerDir ?? join(REPO_ROOT, 'trainer'), lakeOptions: { home, ...deps.lakeOptions } };
  return {
    async probeCache(input: ProbeCacheInput): Promise<StepResult | null> {
      return probeCache(d, input);
    },
  };
}
