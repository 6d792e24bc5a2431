// report.html of a predict publication: one self-contained file (inline CSS, no script) with what was scored, by
// which model, and how far the input sits from the model's evaluation data, signal by signal.
import { esc } from '../evaluate/report.js';
import type { Drift } from './drift.js';

export interface PredictReportInput {
  model: string; modelVersion: string; version: string; dataset: string; rows: number; resumedParts: number;
  drift: Drift | null; reference: string | null; maxDrift?: number; createdAt: string;
}

/** The usual reading of a PSI: < 0.1 stable, 0.1–0.25 a moderate shift, above 0.25 a large one. */
export function psiReading(v: number): string {
  return v < 0.1 ? 'stable' : v <= 0.25 ? 'moderate shift' : 'large shift';
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

export function renderPredictReport(r: PredictReportInput): string {
  const d = r.drift;
  const signals = d ? ([['predicted labels', d.labelPsi], ['confidence (top probability)', d.confidencePsi], ['text length', d.lengthPsi]] as const) : [];
  const rows = signals.map(([name, v]) => `<tr><th>${esc(name)}</th><td>${v.toFixed(4)}</td><td class="${v > 0.25 ? 'bad' : v > 0.1 ? 'warn' : ''}">${psiReading(v)}</td></tr>`).join('');
  const labels = d ? Object.entries(d.labels).map(([l, s]) => `<tr><th>${esc(l)}</th><td>${pct(s.share)}</td><td>${pct(s.reference)}</td></tr>`).join('') : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.dataset)} scored by ${esc(r.model)} ${esc(r.modelVersion)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:860px;color:#222;padding:0 16px}
h1{font-size:20px;margin-bottom:2px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;text-align:right;border-bottom:1px solid #eee}
th:first-child{text-align:left}.meta{color:#666}.note{color:#555;font-size:13px}.warn{color:#a60}.bad{color:#b00;font-weight:600}
</style></head><body>
<h1>Predictions for ${esc(r.dataset)} <span class="meta">version ${esc(r.version)}</span></h1>
<div class="meta">${r.rows} rows scored by ${esc(r.model)} version ${esc(r.modelVersion)}${r.resumedParts ? ` · ${r.resumedParts} part(s) kept from an interrupted attempt` : ''} · ${esc(r.createdAt)}</div>
<h2>Drift against the model's evaluation split</h2>
${d ? `<p class="note">Population stability index per signal, against ${esc(r.reference)}${r.maxDrift !== undefined ? `; the step fails above ${r.maxDrift}` : ''}.</p>
<table><thead><tr><th>signal</th><th>PSI</th><th>reading</th></tr></thead><tbody>${rows}</tbody></table>
<p>Mean confidence ${d.meanConfidence.toFixed(4)} here, ${d.referenceMeanConfidence.toFixed(4)} on the evaluation split.</p>
<h2>Predicted labels</h2><table><thead><tr><th>label</th><th>here</th><th>evaluation</th></tr></thead><tbody>${labels}</tbody></table>`
    : '<p class="note">The model has no evaluation in the lake (models/&lt;model&gt;/&lt;version&gt;/eval/), so there is nothing to measure drift against.</p>'}
</body></html>
`;
}
