// worker [--queues etl,gpu]: the ETL and GPU workers in one process. The SDK's runtime shuts every worker down on
// SIGINT/SIGTERM (in-flight tasks drain); the GPU worker additionally asks its trainers to checkpoint and exit at once.
import { usageError, EXIT_OK, EXIT_FAILED } from './common.js';

const KINDS = ['etl', 'gpu'] as const;
type Kind = (typeof KINDS)[number];

export function parseQueues(value: string): Kind[] {
  const kinds = [...new Set(value.split(',').map((s) => s.trim()).filter(Boolean))];
  const bad = kinds.filter((k) => !(KINDS as readonly string[]).includes(k));
  if (bad.length || !kinds.length) throw usageError(`--queues takes a comma-separated list of ${KINDS.join(', ')}, got ${JSON.stringify(value)}`);
  return kinds as Kind[];
}

interface Running {
  kind: Kind;
  taskQueue: string;
  worker: { run(): Promise<void>; shutdown(): void; getState(): string };
  close(): Promise<void>;
  preempt?: () => void;
}

export async function workerCommand(opts: { queues: string }): Promise<number> {
  const kinds = parseQueues(opts.queues);
  const log = (m: string) => process.stderr.write(`[lakeforge] ${m}\n`);
  // In a project: its lake and queues, and its own steps beside the built-in kinds.
  const project = await (await import('../../sdk/project.js')).useProject();
  const { projectActivities } = await import('../../workers/project.js');
  const { loadConfig } = await import('../../activities/common/config.js');
  const cfg = loadConfig();
  log(`starting worker(s) for ${kinds.join(', ')} against ${cfg.temporalAddress}${project ? ` for project ${project.root}` : ''} (bundling workflows…)`);
  const extra = (kind: Kind) => async (deps: Record<string, unknown>) => {
    const { activities, unserved } = await projectActivities(project, kind, deps);
    if (unserved.length) log(`WARNING: this lakeforge cannot run project steps yet; not serving ${unserved.join(', ')} on ${kind}`);
    return activities;
  };
  // Imported lazily: DuckDB and the trainer launcher load only for the queues asked for.
  const running: Running[] = await Promise.all(kinds.map(async (kind): Promise<Running> => {
    if (kind === 'etl') {
      const { createEtlWorker } = await import('../../workers/etl.js');
      const { worker, close } = await createEtlWorker({ taskQueue: cfg.etlTaskQueue, extraActivities: extra('etl') });
      return { kind, taskQueue: cfg.etlTaskQueue, worker, close };
    }
    const { createGpuWorker } = await import('../../workers/gpu.js');
    const w = await createGpuWorker({ taskQueue: cfg.gpuTaskQueue, extraActivities: extra('gpu') });
    return { kind, taskQueue: w.taskQueue, worker: w.worker, close: w.close, preempt: w.preempt };
  }));
  const onSignal = (sig: string) => {
    log(`${sig}: shutting down (in-flight tasks finish; trainers checkpoint)…`);
    for (const r of running) {
      if (r.preempt) r.preempt();
      else if (r.worker.getState() === 'RUNNING') r.worker.shutdown();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  log(`worker ready (pid ${process.pid}): ${running.map((r) => `${r.kind} on ${r.taskQueue}`).join(', ')}`);
  let failed = false;
  await Promise.all(running.map((r) => r.worker.run().catch((err: Error) => {
    failed = true;
    log(`${r.kind} worker failed: ${err.message}`);
    // One fleet down means the process is no longer what was asked for: stop the others too.
    for (const o of running) if (o !== r && o.worker.getState() === 'RUNNING') o.worker.shutdown();
  })));
  await Promise.all(running.map((r) => r.close().catch(() => undefined)));
  log('worker stopped');
  return failed ? EXIT_FAILED : EXIT_OK;
}
