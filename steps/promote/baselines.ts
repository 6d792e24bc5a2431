// The evaluation's baselines (TF-IDF + logistic regression, most-frequent tag, majority), as the evaluate step
// records them in its manifest and the promotion gate reads them.

/** `{name: {metric: value}}`: each baseline's headline numbers plus its CPU seconds. */
export type BaselineHeadlines = Record<string, Record<string, number>>;

/** From metrics.json's `baselines` section (null when the trainer skipped them). */
export function baselineHeadlines(section: unknown): BaselineHeadlines | null {
  if (!section || typeof section !== 'object') return null;
  const out: BaselineHeadlines = {};
  for (const [name, sec] of Object.entries(section as Record<string, unknown>)) {
    const s = sec as { headline?: Record<string, unknown>; cpu_seconds?: unknown } | null;
    if (!s?.headline) continue;
    const h: Record<string, number> = {};
    for (const [k, v] of Object.entries(s.headline)) if (typeof v === 'number' && Number.isFinite(v)) h[k] = v;
    if (typeof s.cpu_seconds === 'number') h.cpu_seconds = s.cpu_seconds;
    out[name] = h;
  }
  return Object.keys(out).length ? out : null;
}

/** The best baseline on `metric` (max or min), or undefined when none reports it. */
export function bestBaseline(b: unknown, metric: string, mode: 'max' | 'min'): { name: string; value: number } | undefined {
  if (!b || typeof b !== 'object') return undefined;
  let best: { name: string; value: number } | undefined;
  for (const [name, h] of Object.entries(b as Record<string, Record<string, unknown>>)) {
    const v = h?.[metric];
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    if (!best || (mode === 'max' ? v > best.value : v < best.value)) best = { name, value: v };
  }
  return best;
}
