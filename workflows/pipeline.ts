// pipelineWorkflow: runs a validated pipeline spec as a DAG of step activities (docs/design.md#data-flow, #temporal-names).
// Deterministic: activities are imported as types only; time comes from the workflow clock.
import {
  ApplicationFailure, CancellationScope, ActivityFailure, ChildWorkflowFailure, executeChild, isCancellation,
  proxyActivities, setHandler, setCurrentDetails, upsertSearchAttributes, workflowInfo, type ActivityOptions,
} from '@temporalio/workflow';
// Types only: the activities' real signatures, so a call that no longer matches them fails tsc.
import type { StepActivities } from '../steps/activities.js';
import type { ProbeStep } from '../steps/probe-pipeline.js';
import type { StepResult } from '../contracts/step-result.js';
import type { ParamsOf, StepInput } from '../contracts/step-input.js';
import type { UserKind } from '../contracts/user-kind.js';
import { FailureType, NON_RETRYABLE_TYPES, cancelled, invalidPipeline, stepFailed } from '../contracts/failures.js';
import { cancelUpdate, progressQuery, stepProgressSignal } from '../contracts/messages.js';
import { REGISTRY, type StepKind } from '../steps/registry.js';
import { validatePipeline, formatPath, type PipelinePlan, type PlannedStep } from './spec/validate.js';
import type { PipelineSpecInput, RetrySpec } from '../contracts/spec.js';
import { progressMarkdown, type PipelineProgress, type StepProgress } from '../contracts/progress.js';
import { partitionedCleanWorkflow, partitionedFeaturesWorkflow } from './partitioned-step.js';
import { childPriority, runPriorityContext, stepPriority } from './priority.js';
import { probeThenRun } from './gpu-cache.js';
import { distributedTrainWorkflow, trainNodes } from './distributed-train.js';
import { predictShards, shardedPredictWorkflow } from './sharded-predict.js';
import { probePipeline } from './pipeline-probe.js';
import { inlineActivities, isUnregisteredLocalActivity, runsInline } from './inline-steps.js';
import { LakeforgeDataset, LakeforgeModel, LakeforgePipeline, LakeforgeStatus, LakeforgeStep, type RunStatus } from '../contracts/search-attributes.js';

export { cancelUpdate, progressQuery, stepProgressSignal } from '../contracts/messages.js';

export interface PipelineInput {
  spec: PipelineSpecInput;
  /** Identifies the run within the pipeline: the workflow id is lakeforge/<pipeline>/<runKey>. */
  runKey: string;
  /** Lake root URI used when the spec names none (the client resolves LAKEFORGE_LAKE). */
  lake: string;
  /** Task queues of the two worker kinds; default lakeforge-etl and lakeforge-gpu. A step's `queue` wins. */
  queues?: { etl?: string; gpu?: string };
  /** The project's own step kinds the spec uses (declarations only; workers started from the project run them). */
  kinds?: UserKind[];
  /** Project files the run needs by content, read once at submission: `uses: sql` queries by their `with.file`. */
  sources?: Record<string, string>;
}

export interface PipelineOutput {
  pipeline: string;
  runKey: string;
  lake: string;
  status: 'succeeded';
  steps: Record<string, StepResult>;
}

const DEFAULT_QUEUES = { etl: 'lakeforge-etl', gpu: 'lakeforge-gpu' };

function activityOptions(step: PlannedStep, plan: PipelinePlan, queues: PipelineInput['queues']): ActivityOptions {
  const retry: RetrySpec = { ...plan.spec.defaults?.retry, ...step.spec.retry };
  // A project step's declaration carries the same options as a registry entry.
  const def = step.user ?? REGISTRY[step.kind];
  return {
    taskQueue: step.spec.queue ?? queues?.[def.queue] ?? DEFAULT_QUEUES[def.queue],
    startToCloseTimeout: (step.spec.timeout ?? plan.spec.defaults?.timeout ?? def.timeout) as ActivityOptions['startToCloseTimeout'],
    // Every step heartbeats every few seconds (training per progress event, DuckDB while a statement runs); a
    // silent heartbeat timeout means the worker is gone and the step is retried elsewhere.
    heartbeatTimeout: (step.spec.heartbeatTimeout ?? plan.spec.defaults?.heartbeatTimeout ?? def.heartbeatTimeout) as ActivityOptions['heartbeatTimeout'],
    // Let a cancelled trainer write its checkpoint before the workflow moves on.
    cancellationType: 'WAIT_CANCELLATION_COMPLETED' as ActivityOptions['cancellationType'],
    summary: step.spec.summary ?? `${step.kind} · ${step.name}${step.model ? ` · model ${step.model}` : ''}`,
    priority: stepPriority(plan.spec, step.spec, runPriorityContext()),
    retry: {
      maximumAttempts: retry.maximumAttempts ?? def.retry.maximumAttempts,
      initialInterval: (retry.initialInterval ?? '2s') as never,
      backoffCoefficient: retry.backoffCoefficient ?? 2,
      maximumInterval: (retry.maximumInterval ?? '2m') as never,
      nonRetryableErrorTypes: NON_RETRYABLE_TYPES,
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

/** One activity per kind, named as the kind: the dispatch is the registry's, the input type the activity's own. */
function callStep<K extends StepKind>(acts: StepActivities, kind: K, input: StepInput<K>): Promise<StepResult> {
  return (acts[kind] as (i: StepInput<K>) => Promise<StepResult>)(input);
}

/**
 * An accepted update costs history events; a rejected one costs none. Once a cancel is under way (the trainer may
 * take its grace period to checkpoint), further cancels are rejected, so a client retrying in a loop cannot grow
 * the history. Validators do not run on replay, so old histories with several accepted cancels still replay.
 */
function rejectRepeatedCancel(status: PipelineProgress['status'], cancelReason: string | undefined): void {
  if (cancelReason !== undefined) throw ApplicationFailure.create({ type: FailureType.AlreadyCancelling, nonRetryable: true, message: `already cancelling: ${cancelReason}` });
  if (status !== 'running') throw ApplicationFailure.create({ type: FailureType.NotRunning, nonRetryable: true, message: `run already ${status}` });
}

export async function pipelineWorkflow(input: PipelineInput): Promise<PipelineOutput> {
  const validated = validatePipeline(input.spec, { kinds: input.kinds });
  if (!validated.ok) {
    const message = validated.errors.map((e) => `${formatPath(e.path)}: ${e.message}`).join('; ');
    throw invalidPipeline(`invalid pipeline: ${message}`, { errors: validated.errors });
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
  }, { validator: (_reason: string) => rejectRepeatedCancel(progress.status, cancelReason) });

  const results: Record<string, StepResult> = {};
  let probe: Awaited<ReturnType<typeof probePipeline>> = { cached: {}, probed: 0, rawBytes: {} };
  const runId = `${plan.spec.name}-${runKey}`.replace(/[^A-Za-z0-9_.-]/g, '_');
  const partitioned = (step: PlannedStep) => !step.user && REGISTRY[step.kind].partitioned && !!step.params.partitions;
  /** The step's activity input but its upstream results (the same for the whole-DAG probe and the step itself). */
  const baseInput = (step: PlannedStep) => {
    const file = step.kind === 'sql' ? (step.params.file as string) : undefined;
    const params = file && input.sources?.[file] !== undefined ? { ...step.params, text: input.sources[file] } : step.params;
    return { lake, dataset, step: step.name, runId, ...(step.model ? { model: step.model } : {}), params };
  };
  const runStep = async (step: PlannedStep): Promise<StepResult> => {
    const options = activityOptions(step, plan, input.queues);
    const inputs = Object.fromEntries(Object.entries(step.inputs).map(([role, from]) => [role, results[from]]));
    if (partitioned(step)) {
      // Fanned out over the queue's workers by a child workflow; its id names the run and the step.
      const child = { workflowId: `${workflowInfo().workflowId}/${step.name}`, taskQueue: options.taskQueue, ...childPriority(options) };
      if (step.kind === 'clean') return executeChild(partitionedCleanWorkflow, { ...child, args: [{ lake, dataset, params: step.params as ParamsOf<'clean'>, activity: options }] });
      return executeChild(partitionedFeaturesWorkflow, { ...child, args: [{ lake, dataset, input: inputs.input, params: step.params as ParamsOf<'features'>, activity: options }] });
    }
    const stepInput = { ...baseInput(step), inputs } as StepInput<typeof step.kind>;
    // A train step over several machines: a child workflow runs its group of node activities (workflows/distributed-train.ts).
    const nnodes = !step.user && step.kind === 'train' ? trainNodes(step.params) : 1;
    // A predict step in shards: a child workflow scores them on several GPU slots at once (workflows/sharded-predict.ts).
    const shards = !step.user && step.kind === 'predict' ? predictShards(step.params) : 1;
    const dispatch = nnodes > 1
      ? () => executeChild(distributedTrainWorkflow, { workflowId: `${workflowInfo().workflowId}/${step.name}`, ...childPriority(options), args: [{ input: stepInput as StepInput<'train'>, nnodes, activity: options }] })
      : shards > 1
      ? () => executeChild(shardedPredictWorkflow, { workflowId: `${workflowInfo().workflowId}/${step.name}`, ...childPriority(options), args: [{ input: stepInput as StepInput<'predict'>, shards, activity: options }] })
      : () => callStep(runsInline(step.kind, options, Object.values(inputs), probe.rawBytes[step.name], probe.taskQueue) ? inlineActivities(options) : proxyActivities<StepActivities>(options), step.kind, stepInput);
    // A GPU kind's cached output is answered on the ETL queue, without waiting for a GPU slot.
    if (!step.user && REGISTRY[step.kind].queue === 'gpu') return probeThenRun(step.kind, stepInput, options, input.queues?.etl ?? DEFAULT_QUEUES.etl, dispatch);
    return dispatch();
  };

  let firstFailure: { step: string; error: unknown } | undefined;
  let misconfigured: ReferenceError | undefined;
  try {
    await scope.run(async () => {
      const running = new Map<string, Promise<void>>();
      const done = new Set<string>();
      // What the lake already holds, for every step at once: those steps are done before anything is dispatched.
      probe = await probePipeline(plan.steps.filter((st) => !st.user && !partitioned(st))
        .map((st) => ({ name: st.name, kind: st.kind, inputs: st.inputs, input: baseInput(st) as ProbeStep['input'] })));
      for (const step of plan.steps) {
        const hit = probe.cached[step.name];
        if (!hit || !step.needs.every((n) => done.has(n))) continue;
        const s = stepState.get(step.name)!;
        Object.assign(s, { state: 'cached', result: hit });
        results[step.name] = hit;
        done.add(step.name);
      }
      if (done.size) publish();
      // Start every step whose needs are met; as each finishes, start what it unblocks.
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
              if (isUnregisteredLocalActivity(error)) misconfigured ??= error;
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
  // Fails this workflow task (retried), not the run: see isUnregisteredLocalActivity.
  if (misconfigured) throw misconfigured;

  for (const s of progress.steps) if (s.state === 'pending') s.state = 'skipped';
  if (cancelReason) {
    setStatus('cancelled');
    throw cancelled(`pipeline ${plan.spec.name} cancelled: ${cancelReason}`);
  }
  if (firstFailure && isCancellation(firstFailure.error)) {
    // Cancelled from outside (Web UI, `temporal workflow cancel`): end as a cancelled run.
    setStatus('cancelled');
    throw firstFailure.error;
  }
  if (firstFailure) {
    setStatus('failed');
    throw stepFailed(`step "${firstFailure.step}" failed: ${describeFailure(firstFailure.error)}`, firstFailure.error);
  }
  setStatus('succeeded');
  return { pipeline: plan.spec.name, runKey, lake, status: 'succeeded', steps: results };
}
