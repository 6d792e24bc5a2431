// report.html's comparison sections: the candidate next to its baselines and the current champion (overall and per
// class), the lineage, the most confident mistakes and the binary precision-recall curve. Inline HTML and SVG only.
import type { ReportExtras } from './report-data.js';

function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
export const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : '—');

interface System { name: string; kind: string; headline: Record<string, unknown>; report?: Record<string, { 'f1-score'?: number }>; note?: string }

const BASELINE_NAMES: Record<string, string> = {
  tfidf_logreg: 'TF-IDF + logistic regression',
  most_frequent_tag: 'most frequent tag per token',
  majority: 'majority class',
};
/** A baseline's name for people, from the key the trainer records it under. */
export const baselineName = (key: string) => BASELINE_NAMES[key] ?? key;

function systems(task: string, body: Record<string, unknown>, headline: Record<string, number>, x: ReportExtras): System[] {
  const rep = (b: Record<string, unknown> | null | undefined) =>
    (task === 'token-classification' ? b?.entity_report : b?.classification_report) as System['report'];
  const out: System[] = [{ name: 'candidate (this model)', kind: 'model', headline, report: rep(body) }];
  const bl = (body.baselines ?? {}) as Record<string, { headline: Record<string, unknown>; cpu_seconds?: number; label?: string }>;
  for (const [k, b] of Object.entries(bl)) {
    out.push({ name: `baseline: ${baselineName(k)}`, kind: 'baseline', headline: b.headline, report: rep(b as Record<string, unknown>), note: `${num(b.cpu_seconds)} s CPU${b.label ? `, always “${esc(b.label)}”` : ''}` });
  }
  if (x.champion) {
    const cb = x.champion.body;
    const ch = (cb?.headline as Record<string, unknown> | undefined) ?? { [x.champion.metric]: x.champion.value };
    out.push({ name: `current champion ${x.champion.version}${x.champion.same ? ' (this model)' : ''}`, kind: 'champion', headline: ch, report: rep(cb) });
  }
  return out;
}

export function comparisonSection(task: string, body: Record<string, unknown>, headline: Record<string, number>, x: ReportExtras): string {
  const sys = systems(task, body, headline, x);
  const skipped = typeof body.baselines_skipped === 'string' ? `<p class="note">No baselines: ${esc(body.baselines_skipped)}.</p>` : '';
  const champNote = x.champion ? '' : '<p class="note">No champion yet for this model.</p>';
  const keys = Object.keys(headline).filter((k) => !/^(rows|truncated_)/.test(k));
  const head = `<tr><th>system</th>${keys.map((k) => `<th>${esc(k)}</th>`).join('')}<th>note</th></tr>`;
  const rows = sys.map((s) => `<tr class="sys-${s.kind}" data-system="${esc(s.kind)}"><th>${esc(s.name)}</th>${keys.map((k) => `<td>${num(s.headline[k])}</td>`).join('')}<td class="note">${s.note ?? ''}</td></tr>`).join('');
  let perClass = '';
  const classes = Object.keys(sys[0].report ?? {}).filter((c) => !/avg$|^accuracy$/.test(c));
  if (classes.length) {
    const ph = `<tr><th>${task === 'token-classification' ? 'entity type' : 'class'} (F1)</th>${sys.map((s) => `<th data-column="${esc(s.kind)}">${esc(s.name)}</th>`).join('')}</tr>`;
    const pr = classes.map((c) => `<tr><th>${esc(c)}</th>${sys.map((s) => `<td>${num(s.report?.[c]?.['f1-score'])}</td>`).join('')}</tr>`).join('');
    perClass = `<h3>Per ${task === 'token-classification' ? 'entity type' : 'class'}, side by side</h3><table class="compare">${ph}${pr}</table>`;
  }
  return `<h2>Candidate vs baselines vs champion</h2>${skipped}${champNote}<table class="compare">${head}${rows}</table>${perClass}`;
}

/**
 * The first screen: where the candidate stands against the bar the promote gate applies by default (at least as good
 * as the best baseline, and as the champion), on each headline metric, and by how much it would have to move.
 * Higher is better for every headline metric the trainer reports except `loss`.
 */
export function verdictSection(task: string, body: Record<string, unknown>, headline: Record<string, number>, x: ReportExtras): string {
  const sys = systems(task, body, headline, x).slice(1);
  const keys = Object.keys(headline).filter((k) => !/^(rows|truncated_|loss$)/.test(k) && typeof headline[k] === 'number');
  if (!keys.length || !sys.length) return '';
  const lines = keys.map((k) => {
    // The champion counts unless it is this very model (a re-evaluation).
    const rivals = sys.filter((s) => typeof s.headline[k] === 'number' && !(s.kind === 'champion' && x.champion?.same));
    if (!rivals.length) return '';
    const best = rivals.reduce((a, b) => ((b.headline[k] as number) > (a.headline[k] as number) ? b : a));
    const margin = headline[k] - (best.headline[k] as number);
    const ok = margin >= 0;
    const need = ok ? `leads by ${num(margin)}` : `needs ${num(best.headline[k])} (+${num(-margin)}) to pass`;
    return `<tr class="${ok ? 'pass' : 'fail'}"><th>${esc(k)}</th><td>${num(headline[k])}</td><td class="l">${esc(best.name)}</td><td>${num(best.headline[k])}</td><td>${margin >= 0 ? '+' : ''}${num(margin)}</td><td class="l">${ok ? '✔ ' : '✘ '}${need}</td></tr>`;
  }).filter(Boolean);
  if (!lines.length) return '';
  const allOk = lines.every((l) => l.startsWith('<tr class="pass"'));
  const verdict = allOk
    ? 'The candidate is at least as good as every baseline and the champion on every headline metric: the default gate (mustBeatBaseline, mustBeatChampion) would promote it.'
    : 'The candidate is behind the best rival on a headline metric: a gate on that metric with mustBeatBaseline or mustBeatChampion refuses it until it reaches the value shown.';
  return `<h2>Against the bar</h2><p class="verdict ${allOk ? 'pass' : 'fail'}">${verdict} The promote step records the decision for the metric it gates on.</p><table class="compare"><tr><th>metric</th><th>candidate</th><th>best rival</th><th>its value</th><th>margin</th><th>to pass</th></tr>${lines.join('')}</table>`;
}

export function lineageSection(x: ReportExtras): string {
  if (!x.lineage.length) return '';
  const rows = x.lineage.map((l) => `<tr><th>${esc(l.stage)}</th><td class="l">${esc(l.version)}</td><td>${num(l.rows)}</td><td class="l">${esc(l.detail ?? '')}</td><td class="l">${esc(l.uri ?? '')}</td></tr>`).join('');
  return `<h2>Lineage</h2><table><tr><th>stage</th><th>version</th><th>rows</th><th>details</th><th>where</th></tr>${rows}</table>`;
}

export function mistakesSection(x: ReportExtras): string {
  if (!x.mistakes.length) return '';
  const excerpt = (t: string) => (t.length > 220 ? `${t.slice(0, 220)}…` : t);
  const rows = x.mistakes.map((m) => `<tr><td class="l">${esc(m.rowKey)}</td><td class="l">${esc(excerpt(m.text))}</td><td>${esc(m.label)}</td><td>${esc(m.prediction)}</td><td>${num(m.probability)}</td></tr>`).join('');
  return `<h2>Most confident mistakes</h2><table><tr><th>row</th><th>text</th><th>true</th><th>predicted</th><th>probability</th></tr>${rows}</table>`;
}

export function prSection(x: ReportExtras): string {
  const pr = x.pr;
  if (!pr || !pr.points.length) return '';
  const W = 360, H = 300, L = 48, B = 36, T = 16, R = 16;
  const sx = (r: number) => L + r * (W - L - R);
  const sy = (p: number) => T + (1 - p) * (H - T - B);
  const d = [[0, pr.points[0][1]] as [number, number], ...pr.points].map(([r, p]) => `${sx(r).toFixed(1)},${sy(p).toFixed(1)}`).join(' ');
  const at = pr.atThreshold;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => `<text x="${sx(t)}" y="${H - B + 14}" font-size="10" text-anchor="middle">${t}</text><text x="${L - 4}" y="${sy(t) + 4}" font-size="10" text-anchor="end">${t}</text>`).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="precision-recall curve">
<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#888"/>${ticks}
<polyline fill="none" stroke="#1f77b4" stroke-width="1.8" points="${d}"/>
<circle cx="${sx(at.recall).toFixed(1)}" cy="${sy(at.precision).toFixed(1)}" r="4" fill="#d62728"><title>threshold ${pr.threshold}: precision ${num(at.precision)}, recall ${num(at.recall)}</title></circle>
<text x="${(L + W - R) / 2}" y="${H - 4}" font-size="11" text-anchor="middle">recall</text>
<text x="12" y="${(T + H - B) / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 12 ${(T + H - B) / 2})">precision</text></svg>`;
  return `<h2>Precision-recall (positive class “${esc(pr.positive)}”)</h2><p class="note">Average precision ${num(pr.averagePrecision)}. The red point is the threshold used, P(${esc(pr.positive)}) ≥ ${pr.threshold} (the arg-max): precision ${num(at.precision)}, recall ${num(at.recall)}.</p>${svg}`;
}

export const COMPARE_CSS = `table.compare th[data-column]{font-size:12px;max-width:160px}tr.sys-model th,tr.sys-model td{font-weight:600}tr.sys-champion{background:#f4f8ff}td.l{text-align:left;max-width:420px}h3{font-size:14px}p.verdict{padding:8px 12px;border-radius:4px}p.verdict.pass{background:#eef8ee}p.verdict.fail{background:#fdf0ee}tr.fail td{color:#a33}`;

/** Every extra section, in reading order. */
export function renderExtras(task: string, body: Record<string, unknown>, headline: Record<string, number>, x: ReportExtras | undefined): string {
  if (!x) return '';
  return [comparisonSection(task, body, headline, x), prSection(x), mistakesSection(x), lineageSection(x)].join('\n');
}
