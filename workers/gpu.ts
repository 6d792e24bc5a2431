// The GPU worker: task queue lakeforge-gpu (LAKEFORGE_GPU_TASK_QUEUE overrides it), one activity slot per GPU
// (LAKEFORGE_GPUS, else nvidia-smi, else one CPU slot). Each running train/evaluate holds one slot and sees only its
// GPU through CUDA_VISIBLE_DEVICES.
//
// Shutdown: on SIGINT/SIGTERM the running trainers are asked at once to checkpoint and exit (their activities end
// Preempted and are retried elsewhere from that checkpoint), then Worker.run() drains. shutdownGraceTime covers the
// checkpoint grace plus the upload. A SIGKILLed worker cannot do any of this; its trainers notice their stdin pipe
// closing and checkpoint and exit on their own (docs/design.md#the-trainer-protocol).
import { Worker } from '@temporalio/worker';
import { loadConfig, TASK_QUEUE_GPU } from '../activities/common/config.js';
import { connectWorker } from '../activities/common/temporal-connection.js';
import { preemptAllTrainers, resolveSlots, SlotAllocator } from '../steps/index.js';
import { gpuActivities } from './gpu-activities.js';
import { workflowCode } from './workflows-path.js';
import { isMain } from './is-main.js';
import { installMetricsRuntime, metricsActivityInterceptor, startSlotGauges } from './metrics.js';
import { keepAliveIntervalMs, keepTaskQueueLoaded } from './queue-keepalive.js';
import { joinGang } from './gang-member.js';
import { sharedQueuePermits } from './activity-permits.js';

export interface GpuWorkerOptions {
  taskQueue?: string;
  /** SIGTERM→SIGKILL grace for a trainer asked to stop (default LAKEFORGE_TRAINER_GRACE_S or 60 s). */
  graceMs?: number;
  env?: NodeJS.ProcessEnv;
  /** More activities on this queue (a project's own steps, workers/project.ts), given the worker's slots. */
  extraActivities?: (deps: { slots: SlotAllocator; shutdownSignal: AbortSignal; graceMs: number }) => Record<string, (...args: never[]) => Promise<unknown>> | Promise<Record<string, (...args: never[]) => Promise<unknown>>>;
}

export async function createGpuWorker(opts: GpuWorkerOptions = {}) {
  const env = opts.env ?? process.env;
  const cfg = loadConfig(env);
  const slots = new SlotAllocator(resolveSlots(cfg.gpus));
  const graceMs = opts.graceMs ?? (env.LAKEFORGE_TRAINER_GRACE_S ? Number(env.LAKEFORGE_TRAINER_GRACE_S) * 1000 : 60_000);
  const taskQueue = opts.taskQueue ?? (env.LAKEFORGE_GPU_TASK_QUEUE || TASK_QUEUE_GPU);
  const shutdown = new AbortController();
  const metricsPort = installMetricsRuntime(env);
  if (metricsPort) startSlotGauges(slots);
  const connection = await connectWorker(env);
  const activities = gpuActivities({ slots, graceMs, shutdownSignal: shutdown.signal });
  const shared = await Worker.create({
    connection,
    namespace: cfg.temporalNamespace,
    taskQueue,
    ...(await workflowCode()),
    activities: { ...activities, ...(await opts.extraActivities?.({ slots, shutdownSignal: shutdown.signal, graceMs })) },
    // One activity permit per slot not taken by a gang node (workers/activity-permits.ts); the other kinds as by default.
    tuner: {
      activityTaskSlotSupplier: sharedQueuePermits(slots),
      workflowTaskSlotSupplier: { type: 'fixed-size', numSlots: 40 },
      localActivityTaskSlotSupplier: { type: 'fixed-size', numSlots: 100 },
      nexusTaskSlotSupplier: { type: 'fixed-size', numSlots: 100 },
    },
    ...(metricsPort ? { interceptors: { activity: [metricsActivityInterceptor] } } : {}),
    // Keep the server's view of progress (and of the newest checkpoint) fresh even with a long heartbeat timeout.
    maxHeartbeatThrottleInterval: '5s',
    // A preempted trainer's checkpoint, its upload, and the activity's failure report must all fit.
    shutdownGraceTime: graceMs + 60_000,
  });
  // Gang placement: this worker's own queue, where the broker reserves slots and admitted groups' nodes run.
  const member = await joinGang({
    connection, namespace: cfg.temporalNamespace, gpuQueue: taskQueue, slots, activities: { trainNode: activities.trainNode },
    log: (m) => process.stderr.write(`${m}\n`),
  });
  const worker = bothWorkers(shared, member);
  // While every slot trains, nothing polls the queue: keep it loaded so its backlog stays in priority order.
  const stopKeepAlive = keepTaskQueueLoaded(connection, {
    namespace: cfg.temporalNamespace, taskQueue, intervalMs: keepAliveIntervalMs(env), log: (m) => process.stderr.write(`${m}\n`),
  });
  return {
    worker,
    taskQueue,
    memberQueue: member.queue,
    slots: slots.slots,
    /** Stops the trainers (checkpoint + exit) and the worker. */
    preempt() {
      if (shutdown.signal.aborted) return;
      shutdown.abort();
      void preemptAllTrainers(graceMs);
      worker.shutdown();
    },
    close: async () => {
      stopKeepAlive();
      await connection.close();
    },
  };
}

/**
 * The shared-queue worker and the member's worker as one: run, runUntil and shutdown act on both, and the member
 * leaves the broker on shutdown (its lease would lapse anyway, later).
 */
function bothWorkers(shared: Worker, member: Awaited<ReturnType<typeof joinGang>>) {
  const shutdown = () => {
    void member.leave();
    for (const w of [shared, member.worker]) if (w.getState() === 'RUNNING') w.shutdown();
  };
  const run = async () => {
    const runs = [shared.run(), member.run()].map((p) => p.catch((err: unknown) => { shutdown(); throw err; }));
    await Promise.all(runs);
  };
  return {
    run,
    shutdown,
    getState: () => shared.getState(),
    async runUntil<R>(until: Promise<R> | (() => Promise<R>)): Promise<R> {
      const running = run();
      try {
        return await Promise.race([typeof until === 'function' ? until() : until, running.then(() => { throw new Error('the GPU worker stopped before its work was done'); })]);
      } finally {
        shutdown();
        await running.catch(() => {});
      }
    },
  };
}

if (isMain(import.meta.url)) {
  const { worker, taskQueue, slots, preempt, close } = await createGpuWorker();
  // Runs beside the SDK's own signal handling (which starts Worker shutdown); ours preempts the trainers at once.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, preempt);
  process.stderr.write(`[lakeforge] GPU worker polling ${taskQueue} with ${slots.length} slot(s): ${slots.map((s) => s.id).join(', ')} (pid ${process.pid})\n`);
  await worker.run();
  await close();
}
