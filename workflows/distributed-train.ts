// distributedTrainWorkflow: one multi-node train step (docs/distributed-training.md#3-several-machines). Starts
// `nnodes` trainNode activities on the GPU queue (one per node, each holding gpusPerNode slots on the worker that
// picks it up); they rendezvous through the lake and form one torch group. The group lives and dies as one: when a
// node fails, the others are cancelled (their trainers get SIGTERM, then SIGKILL by process group) and the whole
// group is retried under a new rendezvous id, resuming from the newest lake checkpoint, within the step's retry
// budget. Deterministic: activities are imported as types only.
import {
  ActivityFailure, ApplicationFailure, CancellationScope, condition, getExternalWorkflowHandle, isCancellation, patched, proxyActivities,
  setHandler, sleep, workflowInfo, type ActivityOptions,
} from '@temporalio/workflow';
import type { TrainNodeResult } from '../steps/train/node.js';
import type { GpuActivities } from '../steps/activities.js';
import type { StepInput } from '../contracts/step-input.js';
import type { StepResult } from '../contracts/step-result.js';
import { NON_RETRYABLE_TYPES, invalidPipeline } from '../contracts/failures.js';
import {
  gangBrokerId, gangGrantedSignal, gangRefusedSignal, gangReleaseSignal, gangRequestSignal, type GangNodePlacement, type GangRequest,
} from '../contracts/gang.js';
import { PRIORITY_DEFAULT } from './priority.js';

export interface DistributedTrainInput {
  input: StepInput<'train'>;
  nnodes: number;
  /** The step's activity options (queue, timeouts, heartbeat, retry): the retry policy is the group's. */
  activity: ActivityOptions;
}

function durationMs(v: unknown, dflt: number): number {
  if (typeof v === 'number') return v;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(v.trim()) : null;
  if (!m) return dflt;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms'];
}

/** The failure's own type, through the activity wrapper. */
function failureType(err: unknown): string | undefined {
  const e = err instanceof ActivityFailure ? err.cause : err;
  return e instanceof ApplicationFailure ? e.type ?? undefined : undefined;
}

export async function distributedTrainWorkflow({ input, nnodes, activity }: DistributedTrainInput): Promise<StepResult> {
  if (!Number.isInteger(nnodes) || nnodes < 2) throw invalidPipeline(`distributedTrainWorkflow: nnodes must be an integer of at least 2, got ${nnodes}`);
  const retry = activity.retry ?? {};
  const maxAttempts = retry.maximumAttempts || 10;
  const nonRetryable = retry.nonRetryableErrorTypes ?? NON_RETRYABLE_TYPES;
  // Each node activity runs once: a node alone is never retried, the group is.
  const { trainNode } = proxyActivities<GpuActivities>({ ...activity, retry: { maximumAttempts: 1 } });
  // Gang placement (workflows/gang-broker.ts): the group is admitted whole before any node starts. Runs started
  // before it keep the old path, so their histories replay.
  const gang = patched('gang-placement') ? gangAdmission(activity, nnodes, perNodeSlots(input.params)) : undefined;
  const base = `${input.runId}-${input.step}`.replace(/[^\w.-]/g, '_');
  let interval = durationMs(retry.initialInterval, 2000);

  for (let attempt = 1; ; attempt++) {
    // The workflow run id keeps a re-run of the same runId from meeting a stale rendezvous object.
    const rdzvId = `${base}-${workflowInfo().runId.slice(0, 8)}-g${attempt}`;
    const placement = gang ? await gang.admit(rdzvId) : undefined;
    const group = new CancellationScope();
    let failure: unknown;
    let result: StepResult | undefined;
    const nodes = Array.from({ length: nnodes }, (_, rank) =>
      group.run(() => placement
        ? gang!.nodeActivity(placement[rank]).trainNode({ input, node: { rank, nnodes, rdzvId, attempt, reservation: placement[rank].token } })
        : trainNode({ input, node: { rank, nnodes, rdzvId, attempt } })).then(
        (r: TrainNodeResult) => {
          // The node that held global rank 0 published; a cache hit (every node checks first) ends the group too.
          if (!('silentNode' in r)) {
            result = r;
            if (r.cached) group.cancel();
          }
        },
        (err: unknown) => {
          if (failure === undefined && !(isCancellation(err) && result)) failure = err;
          // One node down is the group down: stop the others (their ranks' collectives are failing anyway).
          group.cancel();
        },
      ));
    await Promise.all(nodes); // every node's outcome is handled above: this never rejects
    if (gang) await gang.release(rdzvId);
    if (result && (failure === undefined || isCancellation(failure))) return result;
    if (failure === undefined) {
      throw ApplicationFailure.create({ type: 'TrainerCrashed', message: `train ${input.step}: every node of group ${rdzvId} finished, none published the model` });
    }
    if (isCancellation(failure) && CancellationScope.current().consideredCancelled) throw failure;
    const type = failureType(failure);
    if ((type && nonRetryable.includes(type)) || attempt >= maxAttempts) throw failure;
    await sleep(interval);
    interval = Math.min(interval * (retry.backoffCoefficient ?? 2), durationMs(retry.maximumInterval, 120_000));
  }
}

/** Slots each node holds: `with.resources.gpusPerNode`. */
function perNodeSlots(params: unknown): number {
  return (params as { resources?: { gpusPerNode?: number } } | undefined)?.resources?.gpusPerNode ?? 1;
}

/**
 * The group's side of the broker: ask to be admitted (again every 30 s while waiting, so a request survives a
 * broker that was not there yet or lost it), wait holding nothing, and give the grant back when the group ends.
 */
function gangAdmission(activity: ActivityOptions, nnodes: number, perNode: number) {
  const gpuQueue = activity.taskQueue ?? workflowInfo().taskQueue;
  const broker = getExternalWorkflowHandle(gangBrokerId(gpuQueue));
  const granted = new Map<string, GangNodePlacement[]>();
  const refused = new Map<string, string>();
  setHandler(gangGrantedSignal, (g) => { granted.set(g.groupId, [...g.nodes].sort((a, b) => a.rank - b.rank)); });
  setHandler(gangRefusedSignal, (r) => { refused.set(r.groupId, r.message); });
  const priority = activity.priority ?? workflowInfo().priority;
  const release = (groupId: string) => CancellationScope.nonCancellable(() => broker.signal(gangReleaseSignal, { groupId }).catch(() => {}));
  return {
    async admit(groupId: string): Promise<GangNodePlacement[]> {
      const request: GangRequest = {
        groupId, replyTo: workflowInfo().workflowId, nnodes, perNode, priorityKey: priority?.priorityKey || PRIORITY_DEFAULT,
        ...(priority?.fairnessKey ? { fairnessKey: priority.fairnessKey } : {}),
        ...(priority?.fairnessWeight ? { fairnessWeight: priority.fairnessWeight } : {}),
      };
      try {
        for (;;) {
          // No broker yet (no GPU worker of this queue has started): asked again below.
          await broker.signal(gangRequestSignal, request).catch(() => {});
          if (await condition(() => granted.has(groupId) || refused.has(groupId), '30 seconds')) break;
        }
      } catch (err) {
        await release(groupId); // cancelled while waiting: withdraw the request
        throw err;
      }
      const why = refused.get(groupId);
      if (why !== undefined) throw invalidPipeline(`train: ${why}`);
      return granted.get(groupId)!;
    },
    /** Each node's activity goes to its worker's own queue; a worker that died since the grant never starts it. */
    nodeActivity(p: GangNodePlacement) {
      return proxyActivities<GpuActivities>({ ...activity, taskQueue: p.queue, scheduleToStartTimeout: '1 minute', retry: { maximumAttempts: 1 } });
    },
    release,
  };
}

/** Nodes a train step's `with.resources` spans (gpus / gpusPerNode; validation checked that it divides). */
export function trainNodes(params: unknown): number {
  const r = (params as { resources?: { gpus?: number; gpusPerNode?: number } } | undefined)?.resources;
  if (!r?.gpusPerNode || !r.gpus) return 1;
  return Math.max(1, Math.floor(r.gpus / r.gpusPerNode));
}
