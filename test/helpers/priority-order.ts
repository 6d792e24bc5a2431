// The dispatch order of queued GPU tasks, measured through a real server's matcher: one GPU worker with a single
// slot, held by a blocker while other runs queue train-like tasks (each scheduled before the next starts); the
// order in which the queued tasks start once the slot frees is the server's dispatch order.
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import { uniqueTaskQueue, type connectServer } from './temporal.js';
import { runStartPriority, type PrioritySpec } from '../../workflows/priority.js';
import type { PriorityProbeArgs } from '../fixtures/priority-workflows.js';
import { keepTaskQueueLoaded } from '../../workers/queue-keepalive.js';

const WORKFLOWS = fileURLToPath(new URL('../fixtures/priority-workflows.ts', import.meta.url));

export interface StartOrderOptions {
  /** How long the blocker holds the slot after the last task is queued (default 1 s). */
  holdAfterQueuedMs?: number;
  /** Touch the GPU queue this often, as the GPU worker does (workers/queue-keepalive.ts); default: not at all. */
  keepAliveMs?: number;
}

export async function startOrder(
  server: Awaited<ReturnType<typeof connectServer>>,
  runs: { label: string; spec: PrioritySpec | null }[],
  opts: StartOrderOptions = {},
): Promise<{ order: string[]; scheduledPriority: Record<string, unknown> }> {
  const wfQueue = uniqueTaskQueue('prio-wf');
  const gpuQueue = uniqueTaskQueue('prio-gpu');
  const order: string[] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  let blockerStarted!: () => void;
  const blockerRunning = new Promise<void>((r) => { blockerStarted = r; });
  const gpuWorker = await Worker.create({
    connection: server.nativeConnection, taskQueue: gpuQueue, maxConcurrentActivityTaskExecutions: 1,
    activities: {
      async trainLike({ label, holdMs }: { label: string; holdMs: number }) {
        if (label === 'blocker') { blockerStarted(); await released; return { label }; }
        order.push(label);
        await sleep(holdMs);
        return { label };
      },
    },
  });
  const stopKeepAlive = opts.keepAliveMs
    ? keepTaskQueueLoaded(server.nativeConnection, { namespace: 'default', taskQueue: gpuQueue, intervalMs: opts.keepAliveMs })
    : () => {};
  const wfWorker = await Worker.create({ connection: server.nativeConnection, taskQueue: wfQueue, workflowsPath: WORKFLOWS });
  const start = (label: string, spec: PrioritySpec | null) => server.client.workflow.start('priorityProbeWorkflow', {
    taskQueue: wfQueue, workflowId: `prio-${label}-${gpuQueue}`,
    args: [{ label, gpuQueue, spec, holdMs: 50 } satisfies PriorityProbeArgs],
    ...(spec ? { priority: runStartPriority(spec) } : {}),
  });
  const scheduled = async (h: WorkflowHandle) => {
    for (;;) {
      const events = (await h.fetchHistory()).events ?? [];
      const e = events.find((ev) => ev.activityTaskScheduledEventAttributes);
      if (e) return e.activityTaskScheduledEventAttributes!.priority;
      await sleep(100);
    }
  };
  try {
    return await gpuWorker.runUntil(wfWorker.runUntil(async () => {
      const blocker = await start('blocker', { priority: 5 });
      await blockerRunning;
      const scheduledPriority: Record<string, unknown> = {};
      const handles: WorkflowHandle[] = [];
      for (const r of runs) {
        const h = await start(r.label, r.spec);
        scheduledPriority[r.label] = await scheduled(h);
        handles.push(h);
      }
      // Let the backlog settle in the matcher (or, held long, the idle queue unload) before the slot frees.
      await sleep(opts.holdAfterQueuedMs ?? 1000);
      release();
      await Promise.all([blocker.result(), ...handles.map((h) => h.result())]);
      return { order, scheduledPriority };
    }));
  } finally {
    stopKeepAlive();
  }
}
