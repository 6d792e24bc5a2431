// probeCache: on the ETL queue, before a GPU kind's step is dispatched to the GPU queue, the kernel's plan and cache
// check (probeStep) look for its published output. A hit returns the cached StepResult without ever holding or
// waiting for a GPU slot; a miss returns null and the workflow dispatches the step to the GPU queue (whose activity
// checks the cache again, so a probe that is wrong, late or missing never changes a result).
import { join } from 'node:path';
import type { StepInput } from '../contracts/step-input.js';
import type { StepResult } from '../contracts/step-result.js';
import { invalidPipeline } from '../contracts/failures.js';
import { loadConfig, REPO_ROOT } from '../activities/common/config.js';
import { probeStep, type StepImpl } from '../activities/kernel/lifecycle.js';
import type { LakeDeps } from '../activities/kernel/input.js';
import { resolveDeps, type GpuActivityDeps } from '../activities/trainer/deps.js';
import { CPU_SLOT, SlotAllocator } from '../activities/trainer/slots.js';
import { STEP_IMPLS } from './activities.js';
import type { EtlDeps } from '../activities/duckdb/files.js';
import { createPipelineProbe } from './probe-pipeline.js';
import { REGISTRY, isStepKind, type StepKind } from './registry.js';

export interface ProbeCacheInput { kind: StepKind; input: StepInput<StepKind> }

/**
 * The ETL queue's cache probes (lake reads and the trainer's code hash only: no slot, no Python): probeCache for one
 * GPU step, probePipeline for the whole DAG (given the worker's DuckDB, which the ETL kinds' plans are built with).
 */
export function createProbeActivities(deps: Pick<GpuActivityDeps, 'trainerDir'> & Partial<EtlDeps> = {}) {
  const home = deps.home ?? loadConfig().home;
  // The trainer's sources travel in the CPU image too (infra/docker/worker-cpu.Dockerfile): its hash is in the version.
  // A placeholder slot: plans never acquire one, and the ETL machine has no GPU to detect.
  const d = resolveDeps({ home, lakeOptions: deps.lakeOptions, trainerDir: deps.trainerDir ?? join(REPO_ROOT, 'trainer'), slots: new SlotAllocator([CPU_SLOT]) });
  // The ETL kinds are planned with the step activities' own deps (sqlRoot, defaultLake…), so a probe hit is exactly
  // the output the step itself would find.
  const { trainerDir: _t, ...lake } = deps;
  const etl = deps.duckdb ? { ...lake, duckdb: deps.duckdb, home } : null;
  return {
    ...(etl ? createPipelineProbe((kind) => (REGISTRY[kind].queue === 'gpu' ? d : etl)) : {}),
    async probeCache({ kind, input }: ProbeCacheInput): Promise<StepResult | null> {
      if (!isStepKind(kind) || REGISTRY[kind].queue !== 'gpu') throw invalidPipeline(`probeCache: ${JSON.stringify(kind)} is not a GPU step kind`);
      return probeStep(STEP_IMPLS[kind] as unknown as StepImpl<StepKind, LakeDeps, unknown>, d, input);
    },
  };
}
export type ProbeActivities = ReturnType<typeof createProbeActivities>;
