// infra/grafana/lakeforge.json: valid JSON, and every lakeforge_* series it queries is one the workers export
// (workers/metrics.ts; histograms as _bucket/_sum/_count). Its temporal_* series are checked against a real
// scrape in test/metrics.test.ts.
import { describe, expect, it } from 'vitest';
import { dashboardMetrics } from './helpers/dashboard.js';
import { LAKEFORGE_METRICS } from '../workers/metrics.js';

describe('Grafana dashboard', () => {
  it('parses and queries only metrics the workers export', () => {
    const names = dashboardMetrics();
    const exported = new Set(Object.values(LAKEFORGE_METRICS) as string[]);
    const lakeforge = [...names].filter((n) => n.startsWith('lakeforge_'));
    for (const n of lakeforge) expect(exported.has(n) || exported.has(n.replace(/_(bucket|sum|count)$/, '')), n).toBe(true);
    // Every lakeforge metric has a panel.
    for (const n of exported) expect(lakeforge.some((m) => m === n || m === `${n}_bucket`), `a panel for ${n}`).toBe(true);
  });
});
