// The typed client API for driving lakeforge from TypeScript: start a pipeline run, watch its progress, cancel it.
import type { Client, WorkflowHandle } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../activities/common/config.js';
import { validatePipeline } from '../workflows/spec/validate.js';
import type { PipelineSpecInput } from '../contracts/spec.js';
// The workflow by type only: the client never loads workflow code.
import type { pipelineWorkflow, PipelineInput } from '../workflows/pipeline.js';
import { cancelUpdate, progressQuery } from '../contracts/messages.js';
import { runStartPriority } from '../workflows/priority.js';
import type { PipelineProgress } from '../contracts/progress.js';
import { LakeforgeDataset, LakeforgeModel, LakeforgePipeline, LakeforgeStatus } from '../contracts/search-attributes.js';
import { InvalidPipelineError, sqlFileErrors } from './load-spec.js';
import { readSqlFile } from '../steps/sql/file.js';
import { projectKinds, type LoadedProject } from '../steps/user/define.js';
import { liveProgress } from './live-progress.js';
import { rejectedCancel } from './cancel-answer.js';

export type PipelineHandle = WorkflowHandle<typeof pipelineWorkflow>;

export interface StartPipelineOptions {
  /** Identifies the run: workflow id lakeforge/<pipeline>/<runKey>. Default: a timestamp and a random suffix. */
  runKey?: string;
  /** Lake root URI when the spec names none; default LAKEFORGE_LAKE. */
  lake?: string;
  /** Task queues of the workers (tests and multi-tenant setups use their own). */
  queues?: PipelineInput['queues'];
  /** The queue the workflow itself runs on; default lakeforge-etl. */
  workflowTaskQueue?: string;
  /** Task priority of the run, 1 (most urgent) … 5, over the spec's `priority`; workflows/priority.ts. */
  priority?: number;
  /** The project the spec belongs to: its own step kinds, and the directory its `uses: sql` files resolve in. */
  project?: LoadedProject;
}


/** docs/design.md#temporal-names: lakeforge/<pipeline>/<runKey>. */
export function pipelineWorkflowId(pipeline: string, runKey: string): string {
  return `lakeforge/${pipeline}/${runKey}`;
}

export function defaultRunKey(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomUUID().slice(0, 6)}`;
}

/** What the workflow start options need, shared by direct starts and schedules. */
export function pipelineStartAction(spec: PipelineSpecInput, opts: StartPipelineOptions & { runKey: string }) {
  const { kinds, paramSchemas } = projectKinds(spec, opts.project);
  const validated = validatePipeline(spec, { kinds, paramSchemas });
  if (!validated.ok) throw new InvalidPipelineError('<spec>', validated.errors);
  const plan = validated.plan;
  const missingSql = sqlFileErrors(plan, opts.project?.root);
  if (missingSql.length) throw new InvalidPipelineError('<spec>', missingSql);
  // The SQL travels by content: read once now, so workers need no copy and an edited file never changes a running run.
  const sources: Record<string, string> = {};
  for (const s of plan.steps) if (s.kind === 'sql') sources[String(s.params.file)] = readSqlFile(String(s.params.file), opts.project?.root).text;
  const lake = plan.spec.lake ?? opts.lake ?? loadConfig().lake;
  const model = plan.steps.find((s) => s.model)?.model;
  const cfg = loadConfig();
  const queues = { etl: opts.queues?.etl ?? cfg.etlTaskQueue, gpu: opts.queues?.gpu ?? cfg.gpuTaskQueue };
  const input: PipelineInput = {
    spec, runKey: opts.runKey, lake, queues,
    ...(kinds.length ? { kinds } : {}), ...(Object.keys(sources).length ? { sources } : {}),
  };
  return {
    plan,
    input,
    taskQueue: opts.workflowTaskQueue ?? queues.etl,
    // The run's own tasks, and by inheritance everything it starts, carry it; steps may override (stepPriority).
    priority: runStartPriority(plan.spec, opts.priority),
    staticSummary: `${plan.spec.name}: ${plan.steps.map((s) => s.name).join(' → ')} on ${plan.spec.dataset.name}`,
    typedSearchAttributes: [
      { key: LakeforgePipeline, value: plan.spec.name },
      { key: LakeforgeDataset, value: plan.spec.dataset.name },
      ...(model ? [{ key: LakeforgeModel, value: model }] : []),
      { key: LakeforgeStatus, value: 'running' },
    ],
  };
}

/** Validates the spec and starts pipelineWorkflow; an invalid spec throws InvalidPipelineError before anything runs. */
export async function startPipeline(client: Client, spec: PipelineSpecInput, opts: StartPipelineOptions = {}): Promise<PipelineHandle> {
  const runKey = opts.runKey ?? defaultRunKey();
  const action = pipelineStartAction(spec, { ...opts, runKey });
  return client.workflow.start<typeof pipelineWorkflow>('pipelineWorkflow', {
    workflowId: pipelineWorkflowId(action.plan.spec.name, runKey),
    taskQueue: action.taskQueue,
    args: [action.input],
    staticSummary: action.staticSummary,
    typedSearchAttributes: action.typedSearchAttributes,
    priority: action.priority,
  });
}

/**
 * The run's step table (the `progress` query) with each running step's live figures (training step, loss, ETA,
 * attempt) from its activity's heartbeat details: they cost the run no history (docs/long-runs.md).
 */
export function getProgress(handle: WorkflowHandle): Promise<PipelineProgress> {
  return liveProgress(handle, () => handle.query(progressQuery));
}

/**
 * Cancels the run's running steps cleanly (the trainer checkpoints) through the `cancel` update. A run that is
 * already cancelling or has ended answers `{cancelled: false}` (the workflow rejects the update: no history cost).
 */
export async function cancelPipeline(handle: WorkflowHandle, reason?: string): Promise<{ cancelled: boolean; reason: string }> {
  try {
    return await handle.executeUpdate(cancelUpdate, { args: [reason ?? ''] });
  } catch (err) {
    const rejected = rejectedCancel(err);
    if (rejected) return rejected;
    throw err;
  }
}
