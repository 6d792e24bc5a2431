// Gang placement of multi-node train steps (docs/distributed-training.md#gang-placement): the messages between the
// GPU workers, the per-queue slot broker (workflows/gang-broker.ts) and a node group (workflows/distributed-train.ts).
// One file, so the three sides cannot drift apart.
import { defineQuery, defineSignal } from '@temporalio/workflow';

/** A GPU worker as the broker sees it: its own task queue, its slots, how many are free, how long its word holds. */
export interface GangMember {
  workerId: string;
  /** The worker's own task queue (memberQueue): a node placed here runs on this worker and no other. */
  queue: string;
  slots: number;
  free: number;
  /** The member is gone when no beat came for this long (a SIGKILLed worker says nothing). */
  leaseMs: number;
}

/** A node group asking to be admitted whole: nnodes nodes of perNode slots each. */
export interface GangRequest {
  /** The group attempt's rendezvous id: unique, and the key of its grant. */
  groupId: string;
  /** The workflow id of the group, which receives gangGranted / gangRefused. */
  replyTo: string;
  nnodes: number;
  perNode: number;
  /** Temporal's task priority (1 = most urgent … 5), and the team whose share it counts against. */
  priorityKey: number;
  fairnessKey?: string;
  fairnessWeight?: number;
}

export interface GangNodePlacement {
  rank: number;
  workerId: string;
  queue: string;
  /** The reservation on that worker: its trainNode claims the slots with it (SlotAllocator.claim). */
  token: string;
}

export interface GangGrant { groupId: string; nodes: GangNodePlacement[] }
export interface GangRefusal { groupId: string; message: string }

/** A worker's answer to a reservation: the slots are set aside, or they are not free now. */
export type GangReservation = { token: string } | { busy: true; free: number };

export interface GangBrokerState {
  members: Record<string, GangMember & { seenAt: number }>;
  pending: (GangRequest & { seq: number; since: number })[];
  grants: Record<string, { request: GangRequest; nodes: GangNodePlacement[]; at: number }>;
  seq: number;
  /** Groups admitted over the broker's life (all its runs), for the state query. */
  admitted: number;
}

export interface GangBrokerInput {
  /** The GPU task queue whose workers this broker places on. */
  gpuQueue: string;
  state?: GangBrokerState;
  /** Continue-as-new past this many history events (default 2,000). */
  maxHistoryEvents?: number;
  /** How long a worker keeps an unclaimed reservation (default 60 s). */
  reservationTtlMs?: number;
}

export const gangBeatSignal = defineSignal<[GangMember]>('gangBeat');
export const gangLeaveSignal = defineSignal<[{ workerId: string }]>('gangLeave');
export const gangRequestSignal = defineSignal<[GangRequest]>('gangRequest');
export const gangReleaseSignal = defineSignal<[{ groupId: string }]>('gangRelease');
export const gangGrantedSignal = defineSignal<[GangGrant]>('gangGranted');
export const gangRefusedSignal = defineSignal<[GangRefusal]>('gangRefused');
export const gangStateQuery = defineQuery<GangBrokerState>('gangState');

/** The broker of one GPU queue: one workflow per queue, started by the first GPU worker that joins. */
export const gangBrokerId = (gpuQueue: string) => `lakeforge-gang-broker/${gpuQueue}`;
/** A GPU worker's own task queue, beside the shared one. */
export const memberQueue = (gpuQueue: string, workerId: string) => `${gpuQueue}@${workerId}`;
