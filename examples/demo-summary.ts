// What `npm start` prints when the run is done, decision first: promoted or not, by which rule and margin, what
// would make it pass, then the candidate beside every baseline on the test split. Pure: tested on its own.
import { baselineHeadlines, bestBaseline } from '../steps/promote/baselines.js';
import { baselineName } from '../steps/evaluate/report-compare.js';

const f = (v: unknown) => (typeof v === 'number' ? v.toFixed(4) : '—');
const signed = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(4)}`;

export interface Outcome {
  /** The promote step's metrics (promoted, candidate, baseline, champion, threshold, decided_by_*, *_margin). */
  promote: Record<string, number>;
  /** The evaluation's metrics.json: headline, rows, baselines.<name>.headline. */
  evaluation: { headline?: Record<string, number>; rows?: number; baselines?: Record<string, { headline?: Record<string, number> }> };
  metric: string;
  mode: 'max' | 'min';
  /** The promote step was a cache hit: this model was decided on before (a re-run). */
  cached?: boolean;
}

export function describeOutcome(o: Outcome): string[] {
  const p = o.promote;
  const rule = Object.keys(p).find((k) => k.startsWith('decided_by_'))?.slice('decided_by_'.length);
  const baselines = Object.entries(baselineHeadlines(o.evaluation.baselines) ?? {});
  // The same choice as the promotion gate's.
  const best = bestBaseline(Object.fromEntries(baselines), o.metric, o.mode);
  const bestName = best ? baselineName(best.name) : 'the best baseline';
  const against: Record<string, [string, number | undefined]> = {
    threshold: ['the threshold', p.threshold], baseline: [bestName, p.baseline], champion: ['the champion', p.champion],
  };
  const lines: string[] = [];
  if (p.promoted && (o.cached || rule !== 'all')) {
    lines.push(`Decision: already the champion (${o.metric} ${f(p.candidate)}, decided on an earlier run); nothing to decide again.`);
  } else if (p.promoted) {
    const beat = ['baseline', 'champion', 'threshold'].filter((r) => p[`${r}_margin`] !== undefined)
      .map((r) => `${against[r][0]} ${f(against[r][1])} (margin ${signed(p[`${r}_margin`])})`);
    lines.push(`Decision: PROMOTED to champion. ${o.metric} ${f(p.candidate)} is at least ${beat.join(', ')}.`);
  } else if (rule && rule !== 'all') {
    const [name, value] = against[rule] ?? [rule, undefined];
    const margin = p[`${rule}_margin`] ?? 0;
    lines.push(`Decision: NOT PROMOTED, refused by the ${rule} rule: ${o.metric} ${f(p.candidate)} ${o.mode === 'max' ? '<' : '>'} ${name} ${f(value)} (margin ${signed(margin)}).`);
    const how = rule === 'baseline'
      ? 'other hyper-parameters or more data (bench/pretrained.py measures them; bench/RESULTS.md has the search), or mustBeatBaseline: false to accept a model that loses to the baseline'
      : rule === 'champion' ? 'the champion stays; beat it, or set mustBeatChampion: false' : 'lower the threshold, or improve the model';
    lines.push(`  To pass it needs ${o.metric} ${o.mode === 'max' ? '≥' : '≤'} ${f(value)} (${signed(-margin)}): ${how}.`);
  }
  const h = o.evaluation.headline ?? {};
  // The gated metric first, then accuracy: the two a reader weighs; report.html has every metric.
  const keys = [...new Set([o.metric, 'accuracy'])].filter((k) => typeof h[k] === 'number');
  if (!keys.length) return lines;
  const rows: [string, Record<string, number> | undefined][] = [['candidate (this run)', h], ...baselines.map(([k, b]) => [`baseline: ${baselineName(k)}`, b] as [string, Record<string, number>])];
  const width = Math.max(...rows.map(([n]) => n.length), 36);
  lines.push('', `Evaluation (test split${o.evaluation.rows ? `, ${o.evaluation.rows} rows` : ''}):`);
  lines.push(`  ${'system'.padEnd(width)}  ${keys.map((k) => k.padStart(10)).join('  ')}`);
  for (const [name, hl] of rows) lines.push(`  ${name.padEnd(width)}  ${keys.map((k) => f(hl?.[k]).padStart(10)).join('  ')}`);
  const bestRow = best && Object.fromEntries(baselines)[best.name];
  if (bestRow) lines.push(`  ${`margin over ${bestName}`.padEnd(width)}  ${keys.map((k) => (typeof h[k] === 'number' && typeof bestRow[k] === 'number' ? signed(h[k] - bestRow[k]) : '—').padStart(10)).join('  ')}`);
  return lines;
}
