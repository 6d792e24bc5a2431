// pipelineWorkflow: runs a validated pipeline spec as a DAG of step activities (DESIGN.md §1, §5).
// Deterministic: activities are imported as types only; time comes from the workflow clock.
import {
  ApplicationFailure, CancellationScope, ActivityFailure, ChildWorkflowFailure, defineQuery, defineSignal, defineUpdate, executeChild, isCancellation,
  proxyActivities, setHandler, setCurrentDetails, upsertSearchAttributes, workflowInfo, type ActivityOptions,
} from '@temporalio/workflow';
import type { StepResult } from '../contracts/step-result.js';
import { validatePipeline, formatPath, type PipelinePlan, type PlannedStep } from './spec/validate.js';
import type { PipelineSpecInput, RetrySpec } from '../contracts/spec.js';
import { progressMarkdown, type PipelineProgress, type StepProgress, type TrainingProgress } from '../contracts/progress.js';
import { partitionedCleanWorkflow, partitionedFeaturesWorkflow } from './partitioned-step.js';
import { runPriorityContext, stepPriority } from './priority.js';
import { withGpuCacheProbe } from './gpu-cache.js';
import { LakeforgeDataset, LakeforgeModel, LakeforgePipeline, LakeforgeStatus, LakeforgeStep, type RunStatus } from '../contracts/search-attributes.js';

/** The activities each step kind calls. The worker-side factories are checked against this in test/activity-contract.test.ts. */
export interface StepActivities {
  clean(input: { lake: string; dataset: string; params: Record<string, unknown> }): Promise<StepResult>;
  features(input: { lake: string; dataset: string; input: StepResult; params: Record<string, unknown> }): Promise<StepResult>;
  train(input: { lake: string; runId: string; step: string; model: string; features: StepResult; params: Record<string, unknown> }): Promise<StepResult>;
  evaluate(input: { lake: string; model: string; trained: StepResult; features: StepResult; params: Record<string, unknown> }): Promise<StepResult>;
  promote(input: { lake: string; model: string; evaluated: StepResult; params: Record<string, unknown> }): Promise<StepResult>;
  sql(input: { lake: string; dataset: string; input: StepResult; params: Record<string, unknown> }): Promise<StepResult>;
}

export interface PipelineInput {
  spec: PipelineSpecInput;
  /** Identifies the run within the pipeline: the workflow id is lakeforge/<pipeline>/<runKey>. */
  runKey: string;
  /** Lake root URI used when the spec names none (the client resolves LAKEFORGE_LAKE). */
  lake: string;
  /** Task queues of the two worker kinds; default lakeforge-etl and lakeforge-gpu. A step's `queue` wins. */
  queues?: { etl?: string; gpu?: string };
}

export interface PipelineOutput {
  pipeline: string;
  runKey: string;
  lake: string;
  status: 'succeeded';
  steps: Record<string, StepResult>;
}

export const progressQuery = defineQuery<PipelineProgress>('progress');
export const cancelUpdate = defineUpdate<{ cancelled: boolean; reason: string }, [string]>('cancel');
/** Sent by long-running activities (train) with their latest heartbeat details. */
export const stepProgressSignal = defineSignal<[{ step: string; progress: TrainingProgress }]>('stepProgress');

const NON_RETRYABLE = ['BadInput', 'SchemaMismatch', 'InvalidPipeline'];
const QUEUE_KIND: Record<PlannedStep['kind'], 'etl' | 'gpu'> = {
  clean: 'etl', features: 'etl', train: 'gpu', evaluate: 'gpu', promote: 'etl', // promote only reads and writes the lake: no GPU slot for it
  sql: 'etl',
};
const DEFAULT_QUEUES = { etl: 'lakeforge-etl', gpu: 'lakeforge-gpu' };
const DEFAULT_TIMEOUT: Record<PlannedStep['kind'], string> = {
  clean: '2h', features: '2h', train: '48h', evaluate: '6h', promote: '10m', sql: '2h',
};

function activityOptions(step: PlannedStep, plan: PipelinePlan, queues: PipelineInput['queues']): ActivityOptions {
  const retry: RetrySpec = { ...plan.spec.defaults?.retry, ...step.spec.retry };
  const long = step.kind === 'train' || step.kind === 'evaluate';
  return {
    taskQueue: step.spec.queue ?? queues?.[QUEUE_KIND[step.kind]] ?? DEFAULT_QUEUES[QUEUE_KIND[step.kind]],
    startToCloseTimeout: (step.spec.timeout ?? plan.spec.defaults?.timeout ?? DEFAULT_TIMEOUT[step.kind]) as ActivityOptions['startToCloseTimeout'],
    // Every step heartbeats every few seconds (training per progress event, DuckDB while a statement runs); a
    // silent minute means the worker is gone and the step is retried elsewhere. ETL gets longer for slow staging.
    heartbeatTimeout: (step.spec.heartbeatTimeout ?? plan.spec.defaults?.heartbeatTimeout ?? (long ? '60s' : '2m')) as ActivityOptions['heartbeatTimeout'],
    // Let a cancelled trainer write its checkpoint before the workflow moves on.
    cancellationType: 'WAIT_CANCELLATION_COMPLETED' as ActivityOptions['cancellationType'],
    summary: step.spec.summary ?? `${step.kind} · ${step.name}${step.model ? ` · model ${step.model}` : ''}`,
    priority: stepPriority(plan.spec, step.spec, runPriorityContext()),
    retry: {
      maximumAttempts: retry.maximumAttempts ?? (long ? 10 : 5),
      initialInterval: (retry.initialInterval ?? '2s') as never,
      backoffCoefficient: retry.backoffCoefficient ?? 2,
      maximumInterval: (retry.maximumInterval ?? '2m') as never,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  };
}

function describeFailure(err: unknown): string {
  let e: unknown = err;
  // A partitioned step fails as a child workflow whose cause is the partition activity's failure.
  while ((e instanceof ActivityFailure || e instanceof ChildWorkflowFailure) && e.cause) e = e.cause;
  const type = e instanceof ApplicationFailure && e.type ? `${e.type}: ` : '';
  return `${type}${e instanceof Error ? e.message : String(e)}`;
}

/**
 * A schedule's runs all carry the runKey fixed when the schedule was created (sched-<scheduleId>); Temporal makes
 * their workflow ids unique as lakeforge/<pipeline>/<runKey>-<scheduled time>. That suffixed key is the run's own,
 * so scheduled runs never share checkpoints/<runId>/.
 */
function effectiveRunKey(input: PipelineInput, pipeline: string): string {
  const prefix = `lakeforge/${pipeline}/`;
  const id = workflowInfo().workflowId;
  return id.startsWith(`${prefix}${input.runKey}-`) ? id.slice(prefix.length) : input.runKey;
}

export async function pipelineWorkflow(input: PipelineInput): Promise<PipelineOutput> {
  const validated = validatePipeline(input.spec);
  if (!validated.ok) {
    const message = validated.errors.map((e) => `${formatPath(e.path)}: ${e.message}`).join('; ');
    throw ApplicationFailure.create({ type: 'InvalidPipeline', nonRetryable: true, message: `invalid pipeline: ${message}`, details: [validated.errors] });
  }
  const plan = validated.plan;
  const runKey = effectiveRunKey(input, plan.spec.name);
  const lake = plan.spec.lake ?? input.lake;
  const dataset = plan.spec.dataset.name;
  const models = [...new Set(plan.steps.map((s) => s.model).filter((m): m is string => !!m))];

  const progress: PipelineProgress = {
    pipeline: plan.spec.name,
    runKey,
    status: 'running',
    steps: plan.steps.map((s) => ({ name: s.name, kind: s.kind, state: 'pending' })),
  };
  const stepState = new Map<string, StepProgress>(progress.steps.map((s) => [s.name, s]));
  const publish = () => setCurrentDetails(progressMarkdown(progress, Date.now()));
  const setStatus = (status: RunStatus) => {
    progress.status = status;
    upsertSearchAttributes([{ key: LakeforgeStatus, value: status }]);
    publish();
  };

  upsertSearchAttributes([
    { key: LakeforgePipeline, value: plan.spec.name },
    { key: LakeforgeDataset, value: dataset },
    ...(models.length ? [{ key: LakeforgeModel, value: models[0] }] : []),
    { key: LakeforgeStatus, value: 'running' },
  ]);
  publish();

  setHandler(progressQuery, () => progress);
  setHandler(stepProgressSignal, ({ step, progress: p }) => {
    const s = stepState.get(step);
    if (s && s.state === 'running') {
      s.training = { ...s.training, ...p };
      publish();
    }
  });

  const scope = new CancellationScope();
  let cancelReason: string | undefined;
  setHandler(cancelUpdate, (reason: string) => {
    if (progress.status !== 'running') return { cancelled: false, reason: `run already ${progress.status}` };
    cancelReason = reason || 'cancelled by request';
    scope.cancel();
    return { cancelled: true, reason: cancelReason };
  });

  const results: Record<string, StepResult> = {};
  const runStep = async (step: PlannedStep): Promise<StepResult> => {
    const acts = withGpuCacheProbe(activityOptions(step, plan, input.queues), input.queues?.etl ?? DEFAULT_QUEUES.etl);
    const runId = `${plan.spec.name}-${runKey}`.replace(/[^A-Za-z0-9_.-]/g, '_');
    switch (step.kind) {
      case 'clean':
        if (step.params.partitions) {
          // Fanned out over the ETL workers by a child workflow; its id names the run and the step.
          return executeChild(partitionedCleanWorkflow, {
            workflowId: `${workflowInfo().workflowId}/${step.name}`,
            taskQueue: activityOptions(step, plan, input.queues).taskQueue,
            args: [{ lake, dataset, params: step.params, activity: activityOptions(step, plan, input.queues) }],
          });
        }
        return acts.clean({ lake, dataset, params: step.params });
      case 'features':
        if (step.params.partitions) {
          return executeChild(partitionedFeaturesWorkflow, {
            workflowId: `${workflowInfo().workflowId}/${step.name}`,
            taskQueue: activityOptions(step, plan, input.queues).taskQueue,
            args: [{ lake, dataset, input: results[step.inputStep!], params: step.params, activity: activityOptions(step, plan, input.queues) }],
          });
        }
        return acts.features({ lake, dataset, input: results[step.inputStep!], params: step.params });
      case 'train':
        return acts.train({ lake, runId, step: step.name, model: step.model!, features: results[step.inputStep!], params: step.params });
      case 'evaluate':
        return acts.evaluate({ lake, model: step.model!, trained: results[step.inputStep!], features: results[step.featuresStep!], params: step.params });
      case 'promote':
        return acts.promote({ lake, model: step.model!, evaluated: results[step.inputStep!], params: step.params });
      case 'sql':
        return acts.sql({ lake, dataset, input: results[step.inputStep!], params: step.params });
    }
  };

  let firstFailure: { step: string; error: unknown } | undefined;
  try {
    await scope.run(async () => {
      // Start every step whose needs are met; as each finishes, start what it unblocks.
      const running = new Map<string, Promise<void>>();
      const done = new Set<string>();
      const launch = () => {
        for (const step of plan.steps) {
          if (firstFailure || running.has(step.name) || done.has(step.name)) continue;
          if (!step.needs.every((n) => done.has(n) && results[n])) continue;
          const s = stepState.get(step.name)!;
          s.state = 'running';
          s.startedAt = Date.now();
          upsertSearchAttributes([{ key: LakeforgeStep, value: step.name }]);
          publish();
          running.set(step.name, runStep(step).then(
            (result) => {
              results[step.name] = result;
              s.state = result.cached ? 'cached' : 'succeeded';
              s.result = result;
              s.endedAt = Date.now();
              done.add(step.name);
              running.delete(step.name);
              publish();
            },
            (error) => {
              s.state = isCancellation(error) ? 'cancelled' : 'failed';
              s.error = isCancellation(error) ? cancelReason : describeFailure(error);
              s.endedAt = Date.now();
              running.delete(step.name);
              if (!firstFailure) firstFailure = { step: step.name, error };
              publish();
            },
          ));
        }
      };
      launch();
      while (running.size) {
        await Promise.race(running.values());
        if (firstFailure) {
          // Fail fast: stop the sibling steps, but let them wind down (checkpoint) before the run ends.
          scope.cancel();
          await Promise.allSettled(running.values());
          break;
        }
        launch();
      }
    });
  } catch (err) {
    if (!firstFailure && !isCancellation(err)) throw err;
  }

  for (const s of progress.steps) if (s.state === 'pending') s.state = 'skipped';
  if (cancelReason) {
    setStatus('cancelled');
    throw ApplicationFailure.create({ type: 'Cancelled', nonRetryable: true, message: `pipeline ${plan.spec.name} cancelled: ${cancelReason}` });
  }
  if (firstFailure && isCancellation(firstFailure.error)) {
    // Cancelled from outside (Web UI, `temporal workflow cancel`): end as a cancelled run.
    setStatus('cancelled');
    throw firstFailure.error;
  }
  if (firstFailure) {
    setStatus('failed');
    throw ApplicationFailure.create({
      type: 'StepFailed', nonRetryable: true,
      message: `step "${firstFailure.step}" failed: ${describeFailure(firstFailure.error)}`,
      cause: firstFailure.error instanceof Error ? firstFailure.error : undefined,
    });
  }
  setStatus('succeeded');
  return { pipeline: plan.spec.name, runKey, lake, status: 'succeeded', steps: results };
}
