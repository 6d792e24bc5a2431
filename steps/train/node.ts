// One node of a multi-node train step (docs/distributed-training.md#3-several-machines): the train kind's own
// lifecycle (activity.ts), with the group's rendezvous before the launch. Whichever node's launcher gets global
// rank 0 in torch's c10d rendezvous speaks (events, checkpoints, the exported model) and publishes through the
// kernel; the others return `{ silentNode }` once their ranks exited 0.
import type { StepInput } from '../../contracts/step-input.js';
import type { StepResult } from '../../contracts/step-result.js';
import type { LakeStorage } from '../../activities/lake/types.js';
import { openStepLake } from '../../activities/kernel/input.js';
import { invalidPipeline, preempted } from '../../contracts/failures.js';
import type { SlotHold } from '../../activities/trainer/slots.js';
import { currentContext } from '../../activities/kernel/context.js';
import { runStep, type StepImpl } from '../../activities/kernel/lifecycle.js';
import type { ResolvedDeps } from '../../activities/trainer/deps.js';
import {
  awaitRendezvous, clearRendezvous, freePort, publishRendezvous, rendezvousHost, TrainNodeSchema, type TrainNode,
} from '../../activities/trainer/rendezvous.js';
export { TrainNodeSchema, type TrainNode } from '../../activities/trainer/rendezvous.js';

export type TrainNodeDeps = ResolvedDeps & {
  node?: TrainNode;
  /** Gang placement: the slots this node's reservation set aside, claimed as the activity starts. */
  held?: SlotHold;
};

/** A node whose ranks finished without global rank 0 among them: nothing of its own to publish. */
export class SilentNode extends Error {
  constructor(readonly rank: number) {
    super(`node ${rank} finished; global rank 0 ran on another node`);
  }
}

export interface TrainNodeInput {
  input: StepInput<'train'>;
  node: TrainNode;
}
export type TrainNodeResult = StepResult | { silentNode: number };

/**
 * Node 0 binds a free port on this host and publishes `host:port`; the others wait for it (heartbeating). Node 0
 * serves the c10d store (is_host=1): the address it published is the one it listens on.
 */
export async function nodeRendezvous(lake: LakeStorage, input: { runId: string; step: string }, node: TrainNode, beat: () => void) {
  let endpoint: string;
  if (node.rank === 0) {
    const host = rendezvousHost();
    endpoint = `${host.includes(':') ? `[${host}]` : host}:${await freePort(host)}`;
    await publishRendezvous(lake, input.runId, input.step, node.rdzvId, endpoint);
  } else {
    endpoint = await awaitRendezvous(lake, input.runId, input.step, node.rdzvId, { signal: currentContext()?.cancellationSignal, beat });
  }
  beat();
  return { nnodes: node.nnodes, rdzvEndpoint: endpoint, rdzvId: node.rdzvId, rdzvHost: node.rank === 0 };
}

/** The GPU worker's `trainNode` activity, registered beside `train`. */
// The train kind's impl is passed in: activity.ts imports this module, so it cannot be imported back.
export function trainNodeActivity<S>(d: ResolvedDeps, impl: StepImpl<'train', TrainNodeDeps, S>) {
  return async ({ input, node }: TrainNodeInput): Promise<TrainNodeResult> => {
    const parsed = TrainNodeSchema.safeParse(node);
    if (!parsed.success) throw invalidPipeline(`trainNode: bad node: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    if (parsed.data.rank >= parsed.data.nnodes) throw invalidPipeline(`trainNode: node.rank ${parsed.data.rank} is not below node.nnodes ${parsed.data.nnodes}`);
    // Claimed at once, so the reservation's time limit covers only the hop from grant to start, not staging.
    const token = parsed.data.reservation;
    const held = token ? d.slots.claim(token) : undefined;
    if (token && !held) {
      throw preempted(`trainNode: the slots reserved for node ${parsed.data.rank} of group ${parsed.data.rdzvId} on this worker lapsed ` +
        'before it started (the worker restarted, or the grant waited past its reservation time); the group is admitted again');
    }
    try {
      return await runStep(impl, { ...d, node: parsed.data, ...(held ? { held } : {}) }, input);
    } catch (err) {
      if (err instanceof SilentNode) return { silentNode: err.rank };
      throw err;
    } finally {
      held?.release();
      // The group has ended (every node read the address before it could start): node 0's object can go.
      if (parsed.data.rank === 0) await clearRendezvous(openStepLake(d, input.lake), input.runId, input.step, parsed.data.rdzvId);
    }
  };
}
