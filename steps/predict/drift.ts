// Drift of one predict run, with DuckDB: the population stability index (PSI) of the predicted labels and of the
// confidence (top probability, ten bins of width 0.1) against the model's evaluation split (what the model predicted
// on data it had not seen), and of the text length (the reference's deciles) against its training split. PSI = Σ (a − e) · ln(a / e) over the bins, the
// fractions floored at 1e-4 so an empty bin stays finite; rule of thumb: < 0.1 stable, 0.1–0.25 a shift, > 0.25 a
// large one.
import { DOUBLE, DuckDBInstance, LIST, listValue, VARCHAR } from '@duckdb/node-api';

export interface Drift {
  labelPsi: number;
  confidencePsi: number;
  lengthPsi: number;
  meanConfidence: number;
  referenceMeanConfidence: number;
  /** Fraction of rows per predicted label, here and in the reference. */
  labels: Record<string, { share: number; reference: number }>;
}

const FLOOR = 1e-4;

export function psi(actual: number[], expected: number[]): number {
  const a = actual.reduce((s, x) => s + x, 0) || 1;
  const e = expected.reduce((s, x) => s + x, 0) || 1;
  let sum = 0;
  for (let i = 0; i < actual.length; i++) {
    const pa = Math.max(actual[i] / a, FLOOR);
    const pe = Math.max(expected[i] / e, FLOOR);
    sum += (pa - pe) * Math.log(pa / pe);
  }
  return sum;
}

/**
 * `predictions`: a glob of the run's part files; `reference`: the evaluation's predictions.parquet (labels and
 * confidence); `lengthReference`: a glob of the training split's files (text length), else the evaluation's texts.
 */
export async function computeDrift(predictions: string, reference: string, labels: string[], lengthReference?: string): Promise<Drift> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const rows = async (sql: string, values: Record<string, unknown>, types?: Record<string, unknown>) => (await conn.runAndReadAll(sql, values as never, types as never)).getRows();
    const counts = async (path: string, expr: string) =>
      new Map((await rows(`SELECT ${expr} AS k, count(*)::BIGINT FROM read_parquet($path) GROUP BY ALL`, { path })).map(([k, n]) => [String(k), Number(n)]));
    // The label and confidence bins; the same expressions over both sides.
    const labelExpr = 'prediction';
    const confExpr = 'least(floor(score * 10), 9)::INTEGER';
    const [la, le, ca, ce] = await Promise.all([
      counts(predictions, labelExpr), counts(reference, labelExpr), counts(predictions, confExpr), counts(reference, confExpr),
    ]);
    const lengths = lengthReference ?? reference;
    const edges = (await rows('SELECT quantile_cont(length(text), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]) FROM read_parquet($path)', { path: lengths }))[0][0];
    const edgeList = ((edges as unknown as { items?: unknown[] })?.items ?? []).map(Number);
    const lenBins = async (path: string, col: string) =>
      new Map((await rows(`SELECT len(list_filter($edges, e -> e < ${col})) AS k, count(*)::BIGINT FROM read_parquet($path) GROUP BY ALL`, { path, edges: listValue(edgeList) }, { path: VARCHAR, edges: LIST(DOUBLE) }))
        .map(([k, n]) => [String(k), Number(n)]));
    const [lenA, lenE] = await Promise.all([lenBins(predictions, 'text_length'), lenBins(lengths, 'length(text)')]);
    const mean = async (path: string) => Number((await rows('SELECT coalesce(avg(score), 0) FROM read_parquet($path)', { path }))[0][0]);
    const [meanA, meanE] = await Promise.all([mean(predictions), mean(reference)]);
    const pick = (m: Map<string, number>, keys: string[]) => keys.map((k) => m.get(k) ?? 0);
    const bins10 = Array.from({ length: 10 }, (_, i) => String(i));
    const totalA = [...la.values()].reduce((s, x) => s + x, 0) || 1;
    const totalE = [...le.values()].reduce((s, x) => s + x, 0) || 1;
    return {
      labelPsi: psi(pick(la, labels), pick(le, labels)),
      confidencePsi: psi(pick(ca, bins10), pick(ce, bins10)),
      lengthPsi: psi(pick(lenA, bins10), pick(lenE, bins10)),
      meanConfidence: meanA,
      referenceMeanConfidence: meanE,
      labels: Object.fromEntries(labels.map((l) => [l, { share: (la.get(l) ?? 0) / totalA, reference: (le.get(l) ?? 0) / totalE }])),
    };
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}
