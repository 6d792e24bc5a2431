// The promotion gate's rules, evaluated in order; the first that fails decides, and every check is kept for the record.
import { z } from 'zod';

export const GateCheckSchema = z.object({
  rule: z.enum(['threshold', 'baseline', 'champion']),
  passed: z.boolean(),
  /** What the candidate was compared with: the threshold, the best baseline's value, the champion's value. */
  against: z.number(),
  /** candidate − against for `max`, against − candidate for `min`: positive means the candidate is better. */
  margin: z.number(),
  /** The baseline's name, or the champion's version. */
  name: z.string().optional(),
});
export type GateCheck = z.infer<typeof GateCheckSchema>;

export const DecisionSchema = z.object({
  /** The rule that refused the candidate, or `all` when every rule that applied passed. */
  decidedBy: z.enum(['threshold', 'baseline', 'champion', 'all']),
  checks: z.array(GateCheckSchema),
  /** Rules that were on but had nothing to compare with (no baselines in the evaluation, no champion metric). */
  skipped: z.array(z.string()),
});
export type Decision = z.infer<typeof DecisionSchema>;

export interface GateInput {
  metric: string;
  mode: 'max' | 'min';
  value: number;
  threshold: number;
  baseline?: { name: string; value: number };
  mustBeatBaseline: boolean;
  champion?: { version: string; value?: number };
  mustBeatChampion: boolean;
}

export function decide(g: GateInput): Decision {
  const margin = (against: number) => (g.mode === 'max' ? g.value - against : against - g.value);
  // "At least as good" (≥ for max), like the champion rule: a tie does not block a promotion.
  const check = (rule: GateCheck['rule'], against: number, name?: string): GateCheck =>
    ({ rule, passed: margin(against) >= 0, against, margin: margin(against), ...(name !== undefined ? { name } : {}) });
  const checks: GateCheck[] = [check('threshold', g.threshold)];
  const skipped: string[] = [];
  if (g.mustBeatBaseline) {
    if (g.baseline) checks.push(check('baseline', g.baseline.value, g.baseline.name));
    else skipped.push(`baseline: the evaluation reports no baseline ${g.metric}`);
  }
  if (g.mustBeatChampion && g.champion) {
    if (g.champion.value !== undefined) checks.push(check('champion', g.champion.value, g.champion.version));
    else skipped.push(`champion: ${g.champion.version} has no ${g.metric} to compare`);
  }
  const failed = checks.find((c) => !c.passed);
  return { decidedBy: failed ? failed.rule : 'all', checks, skipped };
}

/** One line for people: what was compared and which rule decided. */
export function describeDecision(d: Decision, metric: string, value: number, mode: 'max' | 'min'): string {
  const ok = mode === 'max' ? '≥' : '≤';
  const no = mode === 'max' ? '<' : '>';
  const what = (c: GateCheck) =>
    c.rule === 'threshold' ? `threshold ${c.against}` : c.rule === 'baseline' ? `baseline ${c.name}'s ${c.against}` : `champion ${c.name}'s ${c.against}`;
  const fmt = (c: GateCheck) => `${metric} ${value} ${c.passed ? ok : no} ${what(c)} (margin ${c.margin >= 0 ? '+' : ''}${Number(c.margin.toFixed(6))})`;
  const failed = d.checks.find((c) => !c.passed);
  const text = failed ? `refused by the ${failed.rule} rule: ${fmt(failed)}` : `promoted: ${d.checks.map(fmt).join(' and ')}`;
  return d.skipped.length ? `${text}; skipped ${d.skipped.join('; ')}` : text;
}

/** Numbers for the step result: which rule decided, and each check's pass flag and margin. */
export function decisionMetrics(d: Decision): Record<string, number> {
  const m: Record<string, number> = { [`decided_by_${d.decidedBy}`]: 1 };
  for (const c of d.checks) {
    m[`rule_${c.rule}`] = c.passed ? 1 : 0;
    m[`${c.rule}_margin`] = c.margin;
  }
  return m;
}
