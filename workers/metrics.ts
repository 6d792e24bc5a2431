// Prometheus metrics of a worker (LAKEFORGE_METRICS_PORT; off when unset). One stack, the SDK's: lakeforge's own
// metrics are created on the Temporal runtime's metric meter, so the SDK's Prometheus exporter serves them on the
// same /metrics as its worker metrics (temporal_*): one port, one scrape, no second HTTP server.
// Recorded here, beside the step code rather than inside it: an activity interceptor sees every step's input,
// result, duration and failure; the trainer-event observer sees training progress and checkpoints.
import { Runtime, type ActivityInterceptorsFactory } from '@temporalio/worker';
import type { MetricMeter } from '@temporalio/common';
import { ApplicationFailure } from '@temporalio/common';
import type { StepResult } from '../contracts/step-result.js';
import type { TrainerEvent } from '../contracts/trainer-protocol.js';
import type { TrainerEventContext } from '../activities/trainer/deps.js';
import { openLake, readManifest } from '../activities/lake/index.js';
import { loadConfig } from '../activities/common/config.js';

/** Every metric lakeforge exports, by name (infra/grafana/lakeforge.json may reference only these and temporal_*). */
export const LAKEFORGE_METRICS = {
  rowsIn: 'lakeforge_rows_in',
  rowsClean: 'lakeforge_rows_clean',
  rowsRejected: 'lakeforge_rows_rejected',
  rowsRejectedByReason: 'lakeforge_rows_rejected_by_reason',
  steps: 'lakeforge_steps',
  stepSeconds: 'lakeforge_step_seconds',
  cacheHits: 'lakeforge_cache_hits',
  bytesRead: 'lakeforge_bytes_read',
  bytesPublished: 'lakeforge_bytes_published',
  trainingSamplesPerSecond: 'lakeforge_training_samples_per_second',
  trainingTokensPerSecond: 'lakeforge_training_tokens_per_second',
  trainingLoss: 'lakeforge_training_loss',
  trainingStep: 'lakeforge_training_step',
  checkpointWriteSeconds: 'lakeforge_checkpoint_write_seconds',
  gpuSlotsTotal: 'lakeforge_gpu_slots_total',
  gpuSlotsBusy: 'lakeforge_gpu_slots_busy',
  trainerRestarts: 'lakeforge_trainer_restarts',
  predictionRows: 'lakeforge_prediction_rows',
  predictionDrift: 'lakeforge_prediction_drift_psi',
  predictionMeanConfidence: 'lakeforge_prediction_mean_confidence',
  predictionDriftFailures: 'lakeforge_prediction_drift_failures',
} as const;

const BUCKETS = {
  [LAKEFORGE_METRICS.stepSeconds]: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400, 86400],
  [LAKEFORGE_METRICS.checkpointWriteSeconds]: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
};

/**
 * Installs the process's Temporal runtime with the Prometheus exporter on LAKEFORGE_METRICS_PORT (0.0.0.0), before
 * any connection exists. Returns the port, or undefined when metrics are off. Safe to call more than once.
 */
let installed: number | undefined;
export function installMetricsRuntime(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.LAKEFORGE_METRICS_PORT;
  if (!raw) return undefined;
  if (installed) return installed;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`LAKEFORGE_METRICS_PORT must be a TCP port, got ${JSON.stringify(raw)}`);
  Runtime.install({
    telemetryOptions: {
      metrics: { prometheus: { bindAddress: `${env.LAKEFORGE_METRICS_HOST ?? '0.0.0.0'}:${port}`, useSecondsForDurations: true, histogramBucketOverrides: BUCKETS } },
    },
  });
  installed = port;
  return port;
}

const meter = (): MetricMeter => Runtime.instance().metricMeter;

/** Which step kind an activity belongs to (the partition activities count towards their step). */
const KIND: Record<string, string> = {
  clean: 'clean', publishPartitionedClean: 'clean', features: 'features', publishPartitionedFeatures: 'features',
  train: 'train', evaluate: 'evaluate', promote: 'promote', sql: 'sql', predict: 'predict', probeCache: 'cache-probe',
};

/** A predict step's model name (its `with.model` is `name` or `name@version`) and dataset, as metric labels. */
function predictLabels(input: Record<string, unknown>): { model: string; dataset: string } {
  const ref = (input.params as { model?: unknown } | undefined)?.model;
  return { model: typeof ref === 'string' ? ref.split('@')[0] : '', dataset: typeof input.dataset === 'string' ? input.dataset : '' };
}

/** The drift of one scored input, per signal: the last run's PSI stays up until the next, so a schedule's alert sees it. */
function recordDrift(labels: { model: string; dataset: string }, d: { label?: number; confidence?: number; length?: number }, meanConfidence?: number): void {
  const m = meter();
  for (const [signal, v] of Object.entries(d)) if (typeof v === 'number') m.createGauge(LAKEFORGE_METRICS.predictionDrift, 'float').set(v, { ...labels, signal });
  if (typeof meanConfidence === 'number') m.createGauge(LAKEFORGE_METRICS.predictionMeanConfidence, 'float').set(meanConfidence, labels);
}

const isStepResult = (r: unknown): r is StepResult => !!r && typeof r === 'object' && typeof (r as StepResult).uri === 'string' && typeof (r as StepResult).cached === 'boolean';

async function manifestBytes(lakeUri: string, refs: StepResult[]): Promise<number> {
  const lake = openLake(lakeUri, { home: loadConfig().home });
  let bytes = 0;
  for (const ref of refs) bytes += (await readManifest(lake, lake.relative(ref.uri)).catch(() => null))?.bytes ?? 0;
  return bytes;
}

/** Rows, cache hits, bytes read/published of one finished step activity. Best effort: metrics never fail a step. */
async function recordResult(kind: string, input: Record<string, unknown>, result: StepResult): Promise<void> {
  const m = meter();
  if (result.cached) { m.createCounter(LAKEFORGE_METRICS.cacheHits).add(1, { kind }); return; }
  const dataset = typeof input.dataset === 'string' ? input.dataset : '';
  const metrics = result.metrics ?? {};
  if (kind === 'clean' && typeof metrics.rows_in === 'number') {
    m.createCounter(LAKEFORGE_METRICS.rowsIn).add(metrics.rows_in, { dataset });
    m.createCounter(LAKEFORGE_METRICS.rowsClean).add(metrics.rows_clean ?? 0, { dataset });
    m.createCounter(LAKEFORGE_METRICS.rowsRejected).add(metrics.rows_rejected ?? 0, { dataset });
    for (const [k, n] of Object.entries(metrics)) {
      if (k.startsWith('rejected.') && n > 0) m.createCounter(LAKEFORGE_METRICS.rowsRejectedByReason).add(n, { dataset, reason: k.slice('rejected.'.length) });
    }
  }
  if (kind === 'predict' && typeof metrics.rows === 'number') {
    const labels = predictLabels(input);
    m.createCounter(LAKEFORGE_METRICS.predictionRows).add(metrics.rows, labels);
    recordDrift(labels, { label: metrics.drift_label_psi, confidence: metrics.drift_confidence_psi, length: metrics.drift_length_psi }, metrics.mean_confidence);
  }
  if (typeof input.lake !== 'string') return;
  // The step's upstream results sit under `inputs` (contracts/step-input.ts), by role.
  const upstream = Object.values((input.inputs ?? {}) as Record<string, unknown>).filter(isStepResult);
  const [read, published] = await Promise.all([manifestBytes(input.lake, upstream), manifestBytes(input.lake, [result])]);
  if (read) m.createCounter(LAKEFORGE_METRICS.bytesRead).add(read, { kind });
  if (published) m.createCounter(LAKEFORGE_METRICS.bytesPublished).add(published, { kind });
}

/** The whole-DAG probe answers steps of several kinds at once: each is a cached step of its own kind. */
function recordProbe(arg: unknown, result: unknown): void {
  const steps = (arg as { steps?: { name: string; kind: string }[] })?.steps ?? [];
  const cached = (result as { cached?: Record<string, StepResult> })?.cached ?? {};
  for (const s of steps) {
    if (!cached[s.name]) continue;
    meter().createCounter(LAKEFORGE_METRICS.steps).add(1, { kind: s.kind, outcome: 'cached' });
    meter().createCounter(LAKEFORGE_METRICS.cacheHits).add(1, { kind: s.kind });
  }
}

/** Worker option `interceptors.activity`: step duration and outcome per kind, rows, cache hits, bytes, restarts. */
export const metricsActivityInterceptor: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      if (ctx.info.activityType === 'probePipeline') {
        const result = await next(input);
        recordProbe(input.args[0], result);
        return result;
      }
      const kind = KIND[ctx.info.activityType];
      if (!kind) return next(input);
      const t0 = performance.now();
      const seconds = () => (performance.now() - t0) / 1000;
      try {
        const result = await next(input);
        const outcome = isStepResult(result) && result.cached ? 'cached' : result === null ? 'miss' : 'succeeded';
        meter().createCounter(LAKEFORGE_METRICS.steps).add(1, { kind, outcome });
        // A GPU step answered by its cache probe is a cached step of its own kind, too.
        const probed = (input.args[0] as { kind?: unknown } | undefined)?.kind;
        if (kind === 'cache-probe' && outcome === 'cached' && typeof probed === 'string') {
          meter().createCounter(LAKEFORGE_METRICS.steps).add(1, { kind: probed, outcome });
          meter().createCounter(LAKEFORGE_METRICS.cacheHits).add(1, { kind: probed });
        }
        meter().createHistogram(LAKEFORGE_METRICS.stepSeconds, 'float', 's').record(seconds(), { kind, outcome });
        if (isStepResult(result) && kind !== 'cache-probe') {
          await recordResult(kind, (input.args[0] ?? {}) as Record<string, unknown>, result).catch(() => undefined);
        }
        return result;
      } catch (err) {
        const type = err instanceof ApplicationFailure ? err.type ?? 'Error' : 'Error';
        meter().createCounter(LAKEFORGE_METRICS.steps).add(1, { kind, outcome: 'failed' });
        meter().createHistogram(LAKEFORGE_METRICS.stepSeconds, 'float', 's').record(seconds(), { kind, outcome: 'failed' });
        if (type === 'DriftExceeded' && kind === 'predict') {
          const labels = predictLabels((input.args[0] ?? {}) as Record<string, unknown>);
          meter().createCounter(LAKEFORGE_METRICS.predictionDriftFailures).add(1, labels);
          const drift = ((err as ApplicationFailure).details?.[0] as { drift?: { labelPsi?: number; confidencePsi?: number; lengthPsi?: number; meanConfidence?: number } } | undefined)?.drift;
          if (drift) recordDrift(labels, { label: drift.labelPsi, confidence: drift.confidencePsi, length: drift.lengthPsi }, drift.meanConfidence);
        }
        // A preempted or crashed trainer is retried: that retry is a restart of the trainer.
        if (type === 'Preempted' || type === 'TrainerCrashed') {
          meter().createCounter(LAKEFORGE_METRICS.trainerRestarts).add(1, { kind, cause: type === 'Preempted' ? 'preempted' : 'crashed' });
        }
        throw err;
      }
    },
  },
});

/** GpuActivityDeps.onTrainerEvent: throughput, loss and step per model; checkpoint write time. Never throws. */
export function trainerMetricsObserver(): (e: TrainerEvent, c: TrainerEventContext) => void {
  return (e, c) => {
    if (c.mode !== 'train') return;
    try {
      const tags = { model: c.model };
      const m = meter();
      if (e.event === 'progress') {
        m.createGauge(LAKEFORGE_METRICS.trainingStep, 'int').set(e.step, tags);
        if (e.loss !== null && e.loss !== undefined) m.createGauge(LAKEFORGE_METRICS.trainingLoss, 'float').set(e.loss, tags);
        if (e.samples_per_s != null) m.createGauge(LAKEFORGE_METRICS.trainingSamplesPerSecond, 'float').set(e.samples_per_s, tags);
        if (e.tokens_per_s != null) m.createGauge(LAKEFORGE_METRICS.trainingTokensPerSecond, 'float').set(e.tokens_per_s, tags);
      } else if (e.event === 'done') {
        m.createGauge(LAKEFORGE_METRICS.trainingStep, 'int').set(e.steps, tags);
      } else if (e.event === 'checkpoint' && e.seconds !== undefined) {
        m.createHistogram(LAKEFORGE_METRICS.checkpointWriteSeconds, 'float', 's').record(e.seconds, tags);
      }
    } catch { /* metrics never fail training */ }
  };
}

/** Keeps the GPU slot gauges current (every 2 s, and never keeps the process alive). */
export function startSlotGauges(slots: { slots: readonly unknown[]; available: number }): () => void {
  const set = () => {
    meter().createGauge(LAKEFORGE_METRICS.gpuSlotsTotal, 'int').set(slots.slots.length);
    meter().createGauge(LAKEFORGE_METRICS.gpuSlotsBusy, 'int').set(slots.slots.length - slots.available);
  };
  set();
  const t = setInterval(set, 2000);
  t.unref();
  return () => clearInterval(t);
}
