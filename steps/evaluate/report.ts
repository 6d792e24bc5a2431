import type { HistoryPoint } from '../train/history.js';
import { COMPARE_CSS, renderExtras, verdictSection } from './report-compare.js';
import type { ReportExtras } from './report-data.js';

/**
 * report.html: one self-contained file (inline CSS and SVG, no script, no CDN) that opens anywhere, including from
 * a bucket with no network: headline metrics, per-class table, confusion matrix, loss and metric curves.
 */
export interface ReportInput {
  model: string;
  version: string;
  task: string;
  split: string;
  /** metrics.json of the evaluation (the trainer's body). */
  metrics: Record<string, unknown>;
  /** The headline numbers (the `done` event's). */
  headline: Record<string, number>;
  /** Tag-level confusion for token classification, when the caller computed one. */
  confusion?: { labels: string[]; matrix: number[][] };
  history: HistoryPoint[];
  createdAt: string;
  /** Baselines and champion side by side, lineage, mistakes, PR curve (report-compare.ts). */
  extras?: ReportExtras;
}

export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function fmt(v: unknown): string {
  if (typeof v !== 'number') return esc(v ?? '');
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1000 ? v.toFixed(0) : v.toFixed(4);
}

type ReportRow = { precision?: number; recall?: number; 'f1-score'?: number; support?: number };

function perClassTable(rep: Record<string, unknown> | undefined, title: string): string {
  if (!rep) return '';
  const rows = Object.entries(rep).filter(([, v]) => v && typeof v === 'object') as [string, ReportRow][];
  if (!rows.length) return '';
  const body = rows
    .map(([name, r]) => {
      const avg = /avg$/.test(name);
      return `<tr class="${avg ? 'avg' : ''}"><th>${esc(name)}</th><td>${fmt(r.precision)}</td><td>${fmt(r.recall)}</td><td>${fmt(r['f1-score'])}</td><td>${fmt(r.support)}</td></tr>`;
    })
    .join('');
  return `<h2>${esc(title)}</h2><table><thead><tr><th></th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr></thead><tbody>${body}</tbody></table>`;
}

function confusionSvg(c: { labels: string[]; matrix: number[][] }): string {
  const n = c.labels.length;
  if (!n) return '';
  const cell = Math.max(22, Math.min(56, Math.floor(560 / n)));
  const left = 110;
  const top = 100;
  const w = left + n * cell + 10;
  const h = top + n * cell + 30;
  const max = Math.max(1, ...c.matrix.flat());
  const parts: string[] = [];
  c.matrix.forEach((row, i) =>
    row.forEach((v, j) => {
      const a = v / max;
      const fill = `rgba(${i === j ? '34,139,34' : '200,60,40'},${(0.08 + 0.85 * a).toFixed(3)})`;
      parts.push(`<rect x="${left + j * cell}" y="${top + i * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#fff"><title>true ${esc(c.labels[i])} → predicted ${esc(c.labels[j])}: ${v}</title></rect>`);
      parts.push(`<text x="${left + j * cell + cell / 2}" y="${top + i * cell + cell / 2 + 4}" text-anchor="middle" font-size="11">${v}</text>`);
    }),
  );
  c.labels.forEach((l, i) => {
    parts.push(`<text x="${left - 6}" y="${top + i * cell + cell / 2 + 4}" text-anchor="end" font-size="11">${esc(l)}</text>`);
    const x = left + i * cell + cell / 2;
    parts.push(`<text x="${x}" y="${top - 6}" font-size="11" transform="rotate(-45 ${x} ${top - 6})">${esc(l)}</text>`);
  });
  parts.push(`<text x="${left + (n * cell) / 2}" y="${h - 8}" text-anchor="middle" font-size="12">predicted</text>`);
  parts.push(`<text x="14" y="${top + (n * cell) / 2}" font-size="12" transform="rotate(-90 14 ${top + (n * cell) / 2})" text-anchor="middle">true</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" role="img" aria-label="confusion matrix">${parts.join('')}</svg>`;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf'];

/** A line chart of named series over training steps. */
export function lineChart(title: string, series: { name: string; points: [number, number][] }[]): string {
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (!all.length) return '';
  const W = 640, H = 260, L = 56, R = 130, T = 24, B = 36;
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const sx = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y: number) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const parts: string[] = [`<text x="${L}" y="16" font-size="13" font-weight="bold">${esc(title)}</text>`];
  parts.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#888"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#888"/>`);
  for (let k = 0; k <= 4; k++) {
    const y = y0 + ((y1 - y0) * k) / 4;
    const x = x0 + ((x1 - x0) * k) / 4;
    parts.push(`<text x="${L - 4}" y="${sy(y) + 4}" text-anchor="end" font-size="10">${fmt(y)}</text>`);
    parts.push(`<line x1="${L}" y1="${sy(y)}" x2="${W - R}" y2="${sy(y)}" stroke="#eee"/>`);
    parts.push(`<text x="${sx(x)}" y="${H - B + 14}" text-anchor="middle" font-size="10">${Math.round(x)}</text>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle" font-size="11">step</text>`);
  series.forEach((s, i) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (!pts.length) return;
    const color = COLORS[i % COLORS.length];
    const d = pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.6" points="${d}"/>`);
    if (pts.length <= 40) for (const [x, y] of pts) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.2" fill="${color}"><title>${esc(s.name)} @ ${x}: ${fmt(y)}</title></circle>`);
    parts.push(`<rect x="${W - R + 10}" y="${T + i * 16}" width="10" height="3" fill="${color}"/><text x="${W - R + 24}" y="${T + i * 16 + 5}" font-size="11">${esc(s.name)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">${parts.join('')}</svg>`;
}

export function renderReport(r: ReportInput): string {
  const m = r.metrics;
  const headline = Object.entries(r.headline).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${fmt(v)}</td></tr>`).join('');
  const seqCm = m.confusion_matrix as { labels: string[]; matrix: number[][] } | undefined;
  const cm = seqCm ?? r.confusion;
  const progress = r.history.filter((p) => p.event === 'progress' && typeof p.loss === 'number').sort((a, b) => a.step - b.step);
  const evals = r.history.filter((p) => p.event === 'eval' && p.metrics).sort((a, b) => a.step - b.step);
  const evalKeys = [...new Set(evals.flatMap((e) => Object.keys(e.metrics!)))];
  const lossSeries = [{ name: 'train loss', points: progress.map((p) => [p.step, p.loss!] as [number, number]) }];
  if (evalKeys.includes('loss')) lossSeries.push({ name: 'val loss', points: evals.filter((e) => 'loss' in e.metrics!).map((e) => [e.step, e.metrics!.loss] as [number, number]) });
  const metricSeries = evalKeys.filter((k) => k !== 'loss').map((k) => ({ name: `val ${k}`, points: evals.filter((e) => k in e.metrics!).map((e) => [e.step, e.metrics![k]] as [number, number]) }));
  const resumes = r.history.filter((p) => p.event === 'started' && p.resumed_from_step);
  const resumeNote = resumes.length
    ? `<p class="note">Training resumed ${resumes.length} time(s), from step ${resumes.map((p) => p.resumed_from_step).join(', ')}; the curve shows the steps that count.</p>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.model)} ${esc(r.version)} — evaluation</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:980px;color:#222;padding:0 16px}
h1{font-size:20px;margin-bottom:2px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;text-align:right;border-bottom:1px solid #eee}
th:first-child{text-align:left}tr.avg th,tr.avg td{color:#555;font-style:italic}.meta{color:#666}.note{color:#555;font-size:13px}
${COMPARE_CSS}
</style></head><body>
<h1>${esc(r.model)} <span class="meta">version ${esc(r.version)}</span></h1>
<div class="meta">${esc(r.task)} · evaluated on the ${esc(r.split)} split (${fmt(m.rows)} rows) · ${esc(r.createdAt)}</div>
${r.extras ? verdictSection(r.task, m, r.headline, r.extras) : ''}
<h2>Headline</h2><table><tbody>${headline}</tbody></table>
${renderExtras(r.task, m, r.headline, r.extras)}
${perClassTable(m.classification_report as Record<string, unknown> | undefined, 'Per class')}
${perClassTable(m.entity_report as Record<string, unknown> | undefined, 'Per entity type (entity level)')}
${cm ? `<h2>Confusion matrix${seqCm ? '' : ' (tags, word level)'}</h2>${confusionSvg(cm)}` : ''}
<h2>Training</h2>${resumeNote}
${lineChart('Loss', lossSeries) || '<p class="note">No training events recorded.</p>'}
${metricSeries.length ? lineChart('Validation metrics', metricSeries) : ''}
</body></html>
`;
}
