// Keeps a task queue loaded in the server's matching service while this worker is too busy to poll it.
//
// Why: a worker whose every slot is held (one long training per GPU) stops polling its activity queue. After
// matching.maxTaskQueueIdleTime without a poll or a new task (5 min by default) the server unloads the queue's
// partitions, and on reload the new matcher dispatches the first backlog task in the order its sub-queues were
// allocated, not by priority: the first train step to take a freed GPU was any queued one, not the priority-1 run
// (issue 26). DescribeTaskQueue with stats asks every partition of the queue for its backlog, and the server counts
// that as liveness, so the queue and its in-memory priority order stay loaded. It is a plain client call: it holds
// on the dev server, on a self-hosted cluster and on Temporal Cloud alike, with no server setting to change.
import type { NativeConnection } from '@temporalio/worker';

// temporal.api.enums.v1 values (the proto package is CommonJS and not a direct dependency).
const TASK_QUEUE_KIND_NORMAL = 1;
const TASK_QUEUE_TYPE_ACTIVITY = 2;

/** Default period: well inside the server's default 5-minute idle time. */
export const KEEPALIVE_DEFAULT_MS = 60_000;

export interface QueueKeepAliveOptions {
  namespace: string;
  taskQueue: string;
  /** How often to touch the queue; must be shorter than the server's matching.maxTaskQueueIdleTime. */
  intervalMs?: number;
  log?: (message: string) => void;
}

/** The keep-alive period from LAKEFORGE_QUEUE_KEEPALIVE_S (0 turns it off), else the default. */
export function keepAliveIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.LAKEFORGE_QUEUE_KEEPALIVE_S;
  if (raw === undefined || raw === '') return KEEPALIVE_DEFAULT_MS;
  const s = Number(raw);
  if (!Number.isFinite(s) || s < 0) throw new Error(`LAKEFORGE_QUEUE_KEEPALIVE_S must be a number of seconds ≥ 0 (0 turns it off), got ${JSON.stringify(raw)}`);
  return s * 1000;
}

/**
 * Touches the activity queue every period until the returned function is called. Always, not only while every slot
 * is held: one call a minute costs nothing, and a task slot can be taken by an activity that holds no GPU.
 */
export function keepTaskQueueLoaded(connection: NativeConnection, opts: QueueKeepAliveOptions): () => void {
  const intervalMs = opts.intervalMs ?? KEEPALIVE_DEFAULT_MS;
  if (intervalMs <= 0) return () => {};
  let warned = false;
  const touch = async () => {
    try {
      await connection.workflowService.describeTaskQueue({
        namespace: opts.namespace,
        taskQueue: { name: opts.taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
        taskQueueType: TASK_QUEUE_TYPE_ACTIVITY,
        // Stats fan out to every partition, and each counts the call as liveness; without them only the root does.
        reportStats: true,
      });
      warned = false;
    } catch (err) {
      // A server restart or a network blip: the next period tries again; say so once, not every minute.
      if (!warned) opts.log?.(`[lakeforge] could not keep task queue ${opts.taskQueue} loaded: ${(err as Error).message}`);
      warned = true;
    }
  };
  const timer = setInterval(() => void touch(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
