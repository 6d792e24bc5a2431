// What a worker runs a project's Python steps with; the declaration itself is pythonStep() in ../user/define.ts.
import type { DuckDBInstance } from '@duckdb/node-api';
import type { StepDefinition } from '../../contracts/step-kind.js';
import { userKindOf, type PythonStep } from '../user/define.js';
import { userDefinition } from '../user/activity.js';
import type { LakeDeps } from '../../activities/kernel/input.js';
import type { SlotAllocator } from '../../activities/trainer/slots.js';

export type { PythonStep } from '../user/define.js';

/** The kernel declaration of a Python step: the same one the workflow got in the run's input. */
export function pythonStepDefinition(step: PythonStep): StepDefinition {
  return userDefinition(userKindOf(step), step.params);
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
