// Figures of the peer benchmark: medians with min/max and n, over what each engine itself recorded.
export interface Sample { total_s: number; gaps_ms: number[]; tasks: number; cached: number }

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
export const median = (xs: number[]) => { const s = sorted(xs); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
export const pct = (xs: number[], p: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

export interface Figure { median: number; min: number; max: number; n: number }
export function figure(xs: number[]): Figure | null {
  return xs.length ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length } : null;
}

export function summarize(samples: Sample[]) {
  const gaps = samples.flatMap((s) => s.gaps_ms);
  return {
    total: figure(samples.map((s) => s.total_s)),
    gapP50: gaps.length ? pct(gaps, 50) : null,
    gapP95: gaps.length ? pct(gaps, 95) : null,
    gaps: gaps.length,
  };
}

export const fmtS = (f: Figure | null) => (f ? `${f.median.toFixed(2)} s (${f.min.toFixed(2)}–${f.max.toFixed(2)}, n=${f.n})` : '—');
export const fmtMs = (x: number | null) => (x === null ? '—' : `${x.toFixed(1)} ms`);
export const ratio = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null || b === 0 ? '—' : `${(a / b).toFixed(2)}×`);
