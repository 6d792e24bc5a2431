// A project's Python step: its declaration (what `pythonStep({...})` in the project config produces) and what the
// worker that runs it is built with. The integrator's activities/steps/user/define.ts owns the declaration; this is
// the minimal shape the runner needs, so the two reconcile by structure.
import type { z } from 'zod';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { Duration, StepDefinition } from '../../../contracts/step-kind.js';
import type { LakeDeps } from '../../kernel/input.js';
import type { SlotAllocator } from '../../trainer/slots.js';

export interface PythonStep<P extends z.ZodType = z.ZodType> {
  name: string;
  description?: string;
  /** The script, relative to the project root (refused outside it, symlinks included). */
  script: string;
  /** The step's `with:`; what the script receives as `ctx.params`, defaults applied. */
  params: P;
  /** `gpu`: the step holds a slot (CUDA_VISIBLE_DEVICES), gets a checkpoint dir and resume_from. Default `etl`. */
  queue?: 'etl' | 'gpu';
  timeout?: Duration;
  heartbeatTimeout?: Duration;
  retry?: { maximumAttempts: number };
  /** Upstream roles; default one `input` of an ETL kind. */
  inputs?: Record<string, { kinds: readonly string[] }>;
  /** Salts the version on top of the script's hash: bump it when code the script imports changes. */
  version?: string;
}

/** The kernel declaration of a Python step (its input roles and params parse the activity input). */
export function pythonStepDefinition(step: PythonStep): StepDefinition {
  return {
    kind: step.name,
    description: step.description ?? `python step ${step.script}`,
    params: step.params,
    inputs: step.inputs ?? { input: { kinds: ['clean', 'features', 'sql'] } },
    queue: step.queue ?? 'etl',
    timeout: step.timeout ?? '2h',
    heartbeatTimeout: step.heartbeatTimeout ?? '2m',
    retry: step.retry ?? { maximumAttempts: 5 },
    model: 'none',
  };
}

/** What a worker runs a project's Python steps with. Everything but the project root has a default. */
export interface PythonStepDeps extends LakeDeps {
  /** The project directory: scripts resolve against it, and it is the script's working directory. */
  projectRoot: string;
  /** `project.python.venv` (relative to the project root, or absolute). */
  venv?: string;
  /** An explicit interpreter; overrides `venv`, LAKEFORGE_PYTHON and the lakeforge venv. */
  python?: string;
  /** The directory holding `lakeforge_trainer` (put on PYTHONPATH for `from lakeforge_trainer import step`). */
  trainerDir?: string;
  /** The GPU worker's slots (gpu-queue steps); default from LAKEFORGE_GPUS / nvidia-smi / one CPU slot. */
  slots?: SlotAllocator;
  /** SIGTERM → SIGKILL grace on cancel or shutdown. Default 30 s. */
  graceMs?: number;
  heartbeatEveryMs?: number;
  /** Aborted when the worker shuts down: running steps checkpoint and end Preempted (retried). */
  shutdownSignal?: AbortSignal;
  /** Extra environment for the script (beyond the trainer's pass-through list). */
  env?: Record<string, string>;
  /** Counts rows of the Parquet files the script wrote; default: one in-process instance, made when first needed. */
  duckdb?: DuckDBInstance;
  /** Checkpoints kept in the lake and on disk. Default 2. */
  keepLast?: number;
}
