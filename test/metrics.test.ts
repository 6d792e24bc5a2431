// Worker metrics: after a real pipeline run, the worker's /metrics (the SDK's Prometheus exporter, which also serves
// lakeforge's metrics) agrees with what the run published: rows, rejects by reason, the trained step count.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { freePort } from '../infra/temporal/server.mjs';
import { installMetricsRuntime, LAKEFORGE_METRICS } from '../workers/metrics.js';
import { openLake, readManifest } from '../activities/lake/index.js';
import { startPipeline } from '../sdk/pipelines.js';
import { dashboardMetrics } from './helpers/dashboard.js';
import { createPipelineTestEnv, smallNewsSpec, type PipelineTestEnv } from './fixtures/pipeline-env.js';

let env: PipelineTestEnv;
let port: number;
beforeAll(async () => {
  port = await freePort();
  // Before any connection: the runtime carries the exporter.
  installMetricsRuntime({ LAKEFORGE_METRICS_PORT: String(port), LAKEFORGE_METRICS_HOST: '127.0.0.1' });
  env = await createPipelineTestEnv({ metrics: true });
});
afterAll(async () => { await env?.close(); });

/** Prometheus text: name → [{labels, value}]. */
function parse(text: string) {
  const out = new Map<string, { labels: Record<string, string>; value: number }[]>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || line.startsWith('#')) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    out.set(m[1], [...(out.get(m[1]) ?? []), { labels, value: Number(m[3]) }]);
  }
  return out;
}

describe('worker metrics on LAKEFORGE_METRICS_PORT', () => {
  it('row, reject-reason and training-step metrics match the run\'s manifests', async () => {
    const out = await env.run(async () => (await startPipeline(env.server.client, smallNewsSpec(), { lake: env.lake, queues: env.queues, runKey: 'metrics' })).result());
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    if (process.env.LAKEFORGE_PRINT_METRICS) process.stderr.write(text);
    const metrics = parse(text);
    const one = (name: string, labels: Record<string, string>) => {
      const rows = (metrics.get(name) ?? []).filter((r) => Object.entries(labels).every(([k, v]) => r.labels[k] === v));
      expect(rows, `${name}${JSON.stringify(labels)} in /metrics`).toHaveLength(1);
      return rows[0].value;
    };
    const lake = openLake(env.lake);
    const clean = (await readManifest(lake, lake.relative(out.steps.clean.uri)))! as unknown as { metrics: Record<string, number>; clean?: string };
    const rejects = JSON.parse(readFileSync(new URL(`${out.steps.clean.uri.replace('/clean/', '/rejects/')}/_manifest.json`), 'utf8')) as { rejectReasons: Record<string, number>; rows: number };
    expect(one(LAKEFORGE_METRICS.rowsIn, { dataset: 'news' })).toBe(clean.metrics.rows_in);
    expect(one(LAKEFORGE_METRICS.rowsClean, { dataset: 'news' })).toBe(clean.metrics.rows_clean);
    expect(one(LAKEFORGE_METRICS.rowsRejected, { dataset: 'news' })).toBe(clean.metrics.rows_rejected);
    expect(clean.metrics.rows_rejected).toBeGreaterThan(0);
    const reasons = Object.entries(rejects.rejectReasons).filter(([, n]) => n > 0);
    expect(reasons.length).toBeGreaterThan(0);
    for (const [reason, n] of reasons) expect(one(LAKEFORGE_METRICS.rowsRejectedByReason, { dataset: 'news', reason }), reason).toBe(n);
    expect(reasons.reduce((s, [, n]) => s + n, 0)).toBe(rejects.rows);
    expect(one(LAKEFORGE_METRICS.trainingStep, { model: 'news-bert' })).toBe(out.steps.train.metrics!.steps);
    expect(one(LAKEFORGE_METRICS.steps, { kind: 'train', outcome: 'succeeded' })).toBe(1);
    // Bytes: what clean published is what features read (its one input), to the byte of the manifests.
    const cleanBytes = (await readManifest(lake, lake.relative(out.steps.clean.uri)))!.bytes;
    expect(cleanBytes).toBeGreaterThan(0);
    expect(one(LAKEFORGE_METRICS.bytesPublished, { kind: 'clean' })).toBe(cleanBytes);
    expect(one(LAKEFORGE_METRICS.bytesRead, { kind: 'features' })).toBe(cleanBytes);
    // The same run again, fully cached: every step is a cache hit of its own kind (answered by the pipeline's probe).
    const again = await env.run(async () => (await startPipeline(env.server.client, smallNewsSpec(), { lake: env.lake, queues: env.queues, runKey: 'metrics-again' })).result());
    const after = parse(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    const hits = (name: string, labels: Record<string, string>) => (after.get(name) ?? []).filter((r) => Object.entries(labels).every(([k, v]) => r.labels[k] === v)).reduce((n, r) => n + r.value, 0);
    for (const [name, r] of Object.entries(again.steps)) {
      expect(r.cached, name).toBe(true);
      const kind = name; // smallNewsSpec names each step after its kind
      expect(hits(LAKEFORGE_METRICS.cacheHits, { kind }), `cache hits of ${kind}`).toBe(1);
      expect(hits(LAKEFORGE_METRICS.steps, { kind, outcome: 'cached' }), `cached ${kind} steps`).toBe(1);
    }
    // The SDK's own worker metrics come from the same endpoint.
    expect([...metrics.keys()].some((k) => k.startsWith('temporal_'))).toBe(true);
    // The Grafana dashboard's SDK series are ones this scrape really has.
    for (const n of dashboardMetrics()) if (n.startsWith('temporal_')) expect(metrics.has(n), `${n} in /metrics`).toBe(true);
    // And so are its lakeforge series, after a computed and a cached run.
    // (A counter appears at its first increment: trainer restarts need a crashed or preempted trainer; none here.)
    // (Prediction series come from a predict run: the next test.)
    const missing = [...dashboardMetrics()].filter((n) => n.startsWith('lakeforge_') && n !== LAKEFORGE_METRICS.trainerRestarts && !n.startsWith('lakeforge_prediction_') && !after.has(n));
    expect(missing, 'dashboard series absent from a real scrape').toEqual([]);
  });

  it('a predict run\'s rows, drift and confidence match its predictions manifest', async () => {
    const train = smallNewsSpec();
    const spec = {
      name: 'news-scoring', model: train.model, dataset: train.dataset,
      steps: [train.steps[0], { name: 'predict', uses: 'predict', needs: ['clean'], with: { model: train.model } }],
    };
    const out = await env.run(async () => (await startPipeline(env.server.client, spec, { lake: env.lake, queues: env.queues, runKey: 'metrics-predict' })).result());
    const lake = openLake(env.lake);
    const manifest = (await readManifest(lake, lake.relative(out.steps.predict.uri)))! as unknown as { rows: number; drift: { labelPsi: number; confidencePsi: number; lengthPsi: number; meanConfidence: number } };
    const m = parse(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    const one = (name: string, labels: Record<string, string>) => {
      const rows = (m.get(name) ?? []).filter((r) => Object.entries(labels).every(([k, v]) => r.labels[k] === v));
      expect(rows, `${name}${JSON.stringify(labels)} in /metrics`).toHaveLength(1);
      return rows[0].value;
    };
    const labels = { model: 'news-bert', dataset: 'news' };
    expect(one(LAKEFORGE_METRICS.predictionRows, labels)).toBe(manifest.rows);
    expect(manifest.rows).toBe(out.steps.clean.rows);
    expect(one(LAKEFORGE_METRICS.predictionDrift, { ...labels, signal: 'label' })).toBeCloseTo(manifest.drift.labelPsi, 9);
    expect(one(LAKEFORGE_METRICS.predictionDrift, { ...labels, signal: 'confidence' })).toBeCloseTo(manifest.drift.confidencePsi, 9);
    expect(one(LAKEFORGE_METRICS.predictionDrift, { ...labels, signal: 'length' })).toBeCloseTo(manifest.drift.lengthPsi, 9);
    expect(one(LAKEFORGE_METRICS.predictionMeanConfidence, labels)).toBeCloseTo(manifest.drift.meanConfidence, 9);
    // The dashboard's prediction panels query series this scrape has (drift failures need a drifted run).
    const missing = [...dashboardMetrics()].filter((n) => n.startsWith('lakeforge_prediction_') && n !== LAKEFORGE_METRICS.predictionDriftFailures && !m.has(n));
    expect(missing).toEqual([]);
  });
});
