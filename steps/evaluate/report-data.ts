// What report.html shows beyond the evaluation itself: the current champion's numbers, the lineage of the data,
// the most confident mistakes and, for binary tasks, the precision-recall curve. Read from the lake and from
// predictions.parquet (DuckDB); every piece is optional, and a piece that cannot be read is left out with a log line.
import { log } from '@temporalio/activity';
import { DuckDBInstance } from '@duckdb/node-api';
import type { LakeStorage, Manifest } from '../../activities/lake/index.js';
import { lakeJoin, readManifest } from '../../activities/lake/index.js';
import { readChampion } from '../promote/activity.js';

export interface LineageEntry { stage: string; version: string; uri?: string; rows?: number; detail?: string }
export interface Mistake { rowKey: string; text: string; label: string; prediction: string; probability: number }
export interface PrCurve { positive: string; threshold: number; points: [number, number][]; averagePrecision: number; atThreshold: { precision: number; recall: number } }
export interface ReportExtras {
  champion?: { version: string; metric: string; value: number; body: Record<string, unknown> | null; same: boolean };
  lineage: LineageEntry[];
  mistakes: Mistake[];
  pr?: PrCurve;
}

async function safe<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    log.warn(`report: no ${what}`, { error: String(err) });
    return undefined;
  }
}

export async function gatherReportData(lake: LakeStorage, o: {
  model: string; modelVersion: string; modelRel: string; modelManifest: Manifest; featuresRel: string; featuresManifest: Manifest;
  predictions: string; task: string; labels: string[];
}): Promise<ReportExtras> {
  const champion = await safe('champion', async () => {
    const c = await readChampion(lake, o.model);
    if (!c) return undefined;
    const text = await lake.readText(lakeJoin(lake.relative(c.uri), 'eval', 'metrics.json'));
    return { version: c.version, metric: c.metric, value: c.value, body: text ? (JSON.parse(text) as Record<string, unknown>) : null, same: c.version === o.modelVersion };
  });
  const lineage = (await safe('lineage', () => lineageOf(lake, o))) ?? [];
  const seq = o.task === 'sequence-classification';
  const mistakes = seq ? ((await safe('mistakes', () => confidentMistakes(o.predictions))) ?? []) : [];
  const pr = seq && o.labels.length === 2 ? await safe('PR curve', () => prCurve(o.predictions, o.labels)) : undefined;
  return { champion, lineage, mistakes, pr };
}

/** model ← features ← clean (rows in / rejected, and why) ← raw, as far as the manifests lead. */
async function lineageOf(lake: LakeStorage, o: { modelVersion: string; modelRel: string; modelManifest: Manifest; featuresRel: string; featuresManifest: Manifest }): Promise<LineageEntry[]> {
  const out: LineageEntry[] = [];
  const mm = o.modelManifest as Record<string, unknown>;
  const metrics = (mm.metrics ?? {}) as Record<string, number>;
  out.push({ stage: 'model', version: o.modelVersion, uri: lake.uri(o.modelRel), detail: `${metrics.steps ?? '?'} steps, ${metrics.attempts ?? 1} attempt(s)` });
  const fm = o.featuresManifest as Record<string, unknown>;
  const splits = fm.splits as Record<string, number> | undefined;
  out.push({
    stage: 'features', version: o.featuresManifest.version, uri: lake.uri(o.featuresRel), rows: o.featuresManifest.rows,
    detail: splits ? Object.entries(splits).map(([k, v]) => `${k} ${v}`).join(', ') : undefined,
  });
  const dataset = typeof fm.dataset === 'string' ? fm.dataset : undefined;
  const input = o.featuresManifest.inputs?.[0];
  if (!dataset || !input) return out;
  const cleanRel = lakeJoin('clean', dataset, input);
  const cm = (await readManifest(lake, cleanRel)) as (Manifest & Record<string, unknown>) | null;
  if (!cm) {
    out.push({ stage: 'input', version: input, detail: 'not a clean publication (e.g. a sql step): see its manifest' });
    return out;
  }
  const cons = cm.conservation as { rowsIn?: number; rowsClean?: number; rowsRejected?: number } | undefined;
  const reasons = cm.rejectReasons as Record<string, number> | undefined;
  const why = reasons && Object.keys(reasons).length ? `; rejected by reason: ${Object.entries(reasons).map(([k, v]) => `${k} ${v}`).join(', ')}` : '';
  out.push({
    stage: 'clean', version: cm.version, uri: lake.uri(cleanRel), rows: cm.rows,
    detail: cons ? `rows in ${cons.rowsIn}, clean ${cons.rowsClean}, rejected ${cons.rowsRejected}${why}` : undefined,
  });
  for (const raw of cm.inputs ?? []) out.push({ stage: 'raw', version: raw, uri: lake.uri(lakeJoin('raw', dataset)) });
  return out;
}

async function query(path: string, sql: string): Promise<unknown[][]> {
  const db = await DuckDBInstance.create(':memory:');
  try {
    const conn = await db.connect();
    try {
      return (await conn.runAndReadAll(sql, { path })).getRows() as unknown[][];
    } finally {
      conn.closeSync();
    }
  } finally {
    db.closeSync();
  }
}

async function confidentMistakes(path: string, limit = 10): Promise<Mistake[]> {
  const rows = await query(path, `SELECT row_key, text, label, prediction, score FROM read_parquet($path) WHERE NOT correct ORDER BY score DESC, row_key LIMIT ${limit}`);
  return rows.map(([k, t, l, p, s]) => ({ rowKey: String(k), text: String(t ?? ''), label: String(l), prediction: String(p), probability: Number(s) }));
}

/** Precision-recall over every threshold of P(positive), positive = the second label; the report marks 0.5 (argmax). */
export async function prCurve(path: string, labels: string[]): Promise<PrCurve> {
  const rows = await query(path, `SELECT label, probabilities[2]::DOUBLE FROM read_parquet($path)`);
  return prFromScores(rows.map(([l, p]) => [l === labels[1], Number(p)] as [boolean, number]), labels[1]);
}

export function prFromScores(scored: [boolean, number][], positive: string, threshold = 0.5): PrCurve {
  const s = [...scored].sort((a, b) => b[1] - a[1]);
  const P = s.filter(([y]) => y).length;
  const points: [number, number][] = [];
  let tp = 0, fp = 0, ap = 0, prevR = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i][0]) tp++; else fp++;
    if (i + 1 < s.length && s[i + 1][1] === s[i][1]) continue; // tied scores are one threshold
    const r = P ? tp / P : 0;
    const p = tp / (tp + fp);
    ap += (r - prevR) * p;
    prevR = r;
    points.push([r, p]);
  }
  const pos = s.filter(([, p]) => p >= threshold);
  const tpAt = pos.filter(([y]) => y).length;
  return { positive, threshold, points, averagePrecision: ap, atThreshold: { precision: pos.length ? tpAt / pos.length : 0, recall: P ? tpAt / P : 0 } };
}
