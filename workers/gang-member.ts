// A GPU worker's membership in its queue's slot broker (workflows/gang-broker.ts): a second Temporal worker on the
// worker's own task queue (<gpu queue>@<worker id>), where the broker reserves slots and the nodes of admitted
// groups run, and beats that tell the broker this worker is alive and how many slots are free. The first member of
// a queue starts the broker (signal-with-start); every later beat lands on the same workflow.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Client } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createGangActivities } from '../activities/trainer/gang.js';
import type { SlotAllocator } from '../activities/trainer/slots.js';
import { gangBeatSignal, gangBrokerId, gangLeaveSignal, memberQueue, type GangBrokerInput, type GangMember } from '../contracts/gang.js';
import type { gangBrokerWorkflow } from '../workflows/gang-broker.js';

export interface GangMemberOptions {
  connection: NativeConnection;
  namespace?: string;
  /** The shared GPU queue: the broker's id and the workflow task queue it runs on. */
  gpuQueue: string;
  slots: SlotAllocator;
  /** trainNode (and whatever else a node of a group needs), registered on the worker's own queue. */
  activities: Record<string, (...args: never[]) => Promise<unknown>>;
  workerId?: string;
  /** The broker forgets this worker after a lease without a beat (LAKEFORGE_GANG_LEASE_S, default 60). */
  leaseMs?: number;
  log?: (message: string) => void;
  /** How the broker is started, when this member is the queue's first (continue-as-new threshold, reservation time). */
  broker?: Omit<GangBrokerInput, 'gpuQueue' | 'state'>;
  /** As the shared worker's: how fresh the server's view of a node's progress (its heartbeat) stays. Default 5 s. */
  maxHeartbeatThrottleInterval?: Duration;
}

export function gangLeaseMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.LAKEFORGE_GANG_LEASE_S;
  if (raw === undefined || raw === '') return 60_000;
  const s = Number(raw);
  if (!Number.isFinite(s) || s < 1) throw new Error(`LAKEFORGE_GANG_LEASE_S must be a number of seconds ≥ 1, got ${JSON.stringify(raw)}`);
  return s * 1000;
}

export async function joinGang(opts: GangMemberOptions) {
  const workerId = opts.workerId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const queue = memberQueue(opts.gpuQueue, workerId);
  const leaseMs = opts.leaseMs ?? gangLeaseMs();
  const namespace = opts.namespace ?? 'default';
  const client = new Client({ connection: opts.connection, namespace });
  const worker = await Worker.create({
    connection: opts.connection,
    namespace,
    taskQueue: queue,
    activities: { ...opts.activities, ...createGangActivities(opts.slots) },
    // Reservations are quick and hold no task slot afterwards; the nodes themselves are bounded by the reservations.
    maxConcurrentActivityTaskExecutions: opts.slots.slots.length + 4,
    maxHeartbeatThrottleInterval: opts.maxHeartbeatThrottleInterval ?? '5s',
  });
  const me = (): GangMember => ({ workerId, queue, slots: opts.slots.slots.length, free: opts.slots.available, leaseMs });
  let stopped = false;
  let inFlight: Promise<unknown> = Promise.resolve();
  const beat = () => {
    if (stopped) return;
    inFlight = client.workflow.signalWithStart<typeof gangBrokerWorkflow, [GangMember]>('gangBrokerWorkflow', {
      workflowId: gangBrokerId(opts.gpuQueue),
      taskQueue: opts.gpuQueue,
      args: [{ ...opts.broker, gpuQueue: opts.gpuQueue }],
      signal: gangBeatSignal,
      signalArgs: [me()],
    }).catch((err: unknown) => opts.log?.(`[lakeforge] gang beat to ${gangBrokerId(opts.gpuQueue)} failed: ${String(err)}`));
  };
  // More free slots are news the broker waits for: say so at once (debounced), not at the next periodic beat.
  let pending: NodeJS.Timeout | undefined;
  const offChange = opts.slots.onChange(() => {
    if (!pending) pending = setTimeout(() => { pending = undefined; beat(); }, 100);
  });
  const every = setInterval(beat, Math.max(500, Math.floor(leaseMs / 3)));
  every.unref();
  return {
    worker,
    workerId,
    queue,
    /** Joins (the first beat) and runs the member's worker until it is shut down. */
    async run(): Promise<void> {
      beat();
      await worker.run();
    },
    /** Stops the beats and tells the broker this worker is leaving (its lease would lapse anyway). */
    async leave(): Promise<void> {
      if (stopped) return;
      stopped = true;
      clearInterval(every);
      if (pending) clearTimeout(pending);
      offChange();
      await inFlight;
      await client.workflow.getHandle(gangBrokerId(opts.gpuQueue)).signal(gangLeaveSignal, { workerId }).catch(() => {});
    },
  };
}
