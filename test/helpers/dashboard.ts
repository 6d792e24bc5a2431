import { readFileSync } from 'node:fs';

export const DASHBOARD = 'infra/grafana/lakeforge.json';

/** The metric names the dashboard's PromQL queries use (parsing it as JSON first). */
export function dashboardMetrics(): Set<string> {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
  const names = new Set<string>();
  for (const p of d.panels) for (const t of p.targets ?? []) for (const m of t.expr.matchAll(/\b((?:lakeforge|temporal)_[a-z_]+)\b/g)) names.add(m[1]);
  return names;
}
