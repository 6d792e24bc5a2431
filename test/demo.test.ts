// `npm start`'s demo (examples/demo.ts), spawned as the README runs it (minus the bootstrap), against the run's dev
// server with its own queues and lake: the real intents data with delivery dirt, the shipped pretrained encoder
// fine-tuned on CPU, the baselines beside it. The decision it prints is checked against the figures in the lake,
// not fixed: promoted exactly when the candidate is at least as good as the best baseline.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { openLake } from '../activities/lake/index.js';
import { readChampion } from '../steps/index.js';
import { describeOutcome } from '../examples/demo-summary.js';
import { uniqueTaskQueue } from './helpers/temporal.js';
import { exec, killGroup, show } from './helpers/exec.js';

const ROOT = resolve(import.meta.dirname, '..');
let tmp: string;
let env: NodeJS.ProcessEnv;
const children = new Set<ChildProcess>();

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'lakeforge-demo-'));
  env = {
    ...process.env,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: 'default',
    LAKEFORGE_UI_URL: inject('temporalUiUrl'),
    LAKEFORGE_LAKE: pathToFileURL(join(tmp, 'lake')).href,
    LAKEFORGE_ETL_TASK_QUEUE: uniqueTaskQueue('demo-etl'),
    LAKEFORGE_GPU_TASK_QUEUE: uniqueTaskQueue('demo-gpu'),
    NO_COLOR: '1',
  };
});
afterAll(() => {
  for (const c of children) killGroup(c);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const demo = () => exec(join(ROOT, 'node_modules', '.bin', 'tsx'), ['examples/demo.ts'], { cwd: ROOT, env, timeoutMs: 900_000, children });

describe('npm start (examples/demo.ts)', () => {
  it('cleans dirty real data, fine-tunes the shipped encoder, and prints the decision its figures support; a second run is cached', async () => {
    const r = await demo();
    expect(r.code, show(r)).toBe(0);
    process.stderr.write(`[demo]\n${r.stdout}\n`);
    const lake = openLake(env.LAKEFORGE_LAKE!, { home: tmp });

    // The cleaning: every kind of delivery dirt shows up as a reject reason, and the counts add up.
    const clean = /Clean: (\d+) rows in = (\d+) clean \+ (\d+) rejected/.exec(r.stdout);
    expect(clean, r.stdout).not.toBeNull();
    const [rowsIn, rowsClean, rowsRejected] = clean!.slice(1).map(Number);
    expect(rowsIn).toBe(rowsClean + rowsRejected);
    expect(rowsClean).toBeGreaterThan(1000);
    for (const reason of ['duplicate', 'label', 'null']) expect(r.stdout).toMatch(new RegExp(`^\\s+\\d+\\s+\\S*${reason}`, 'mi'));

    // The figures, from the lake: the evaluation the demo points at.
    const report = /^Report: (.+report\.html)$/m.exec(r.stdout)![1];
    const metrics = JSON.parse(await readFile(join(dirname(report), 'metrics.json'), 'utf8'));
    const model = metrics.headline.macro_f1 as number;
    const tfidf = metrics.baselines.tfidf_logreg.headline.macro_f1 as number;
    const majority = metrics.baselines.majority.headline.macro_f1 as number;
    process.stderr.write(`[measure] demo (${metrics.rows} test rows): macro-F1 fine-tuned MiniLM ${model.toFixed(4)} / TF-IDF+LR ${tfidf.toFixed(4)} / majority ${majority.toFixed(4)}\n`);
    expect(majority).toBeLessThan(0.05);
    expect(tfidf).toBeGreaterThan(0.8);
    expect(model).toBeGreaterThan(0.8); // a pretrained encoder, fine-tuned: far from chance even when it loses

    const spec = parse(readFileSync('examples/pipelines/intents.yaml', 'utf8'));
    const champ = await readChampion(lake, spec.model);
    if (model >= Math.max(tfidf, majority)) {
      expect(r.stdout).toMatch(/^Decision: PROMOTED to champion\. macro_f1 \d\.\d{4} is at least TF-IDF \+ logistic regression/m);
      expect(champ?.decision?.checks.find((c) => c.rule === 'baseline')).toMatchObject({ passed: true, against: tfidf });
    } else {
      expect(r.stdout).toMatch(/^Decision: NOT PROMOTED, refused by the baseline rule/m);
      expect(r.stdout).toMatch(/To pass it needs macro_f1 ≥ /);
      expect(champ).toBeNull();
    }
    // The decision comes before the table, and the table shows candidate, baselines and the margin.
    expect(r.stdout.indexOf('Decision:')).toBeLessThan(r.stdout.indexOf('Evaluation (test split'));
    // Columns: the gated metric (macro_f1) first.
    expect(r.stdout).toMatch(/^\s+system\s+macro_f1\s+accuracy$/m);
    const margin = new RegExp(`margin over TF-IDF \\+ logistic regression\\s+([+−]\\d\\.\\d{4})`).exec(r.stdout);
    expect(Number(margin![1].replace('−', '-'))).toBeCloseTo(model - tfidf, 4);
    const html = await readFile(report, 'utf8');
    expect(html.indexOf('Against the bar')).toBeGreaterThan(-1);
    expect(html.indexOf('Against the bar')).toBeLessThan(html.indexOf('<h2>Headline</h2>'));

    // Run it again: every step is a cache hit, the decision stands.
    const again = await demo();
    expect(again.code, show(again)).toBe(0);
    expect(again.stdout).not.toMatch(/writing the Home Assistant intents/);
    expect(again.stdout).toMatch(model >= tfidf ? /^Decision: already the champion/m : /^Decision: NOT PROMOTED/m);
    expect(/^Report: (.+)$/m.exec(again.stdout)![1]).toBe(report);
  }, 1_500_000);
});

describe('the demo\'s decision lines', () => {
  const evaluation = { rows: 10, headline: { accuracy: 0.9, macro_f1: 0.8 }, baselines: { tfidf_logreg: { headline: { accuracy: 0.95, macro_f1: 0.85 } }, majority: { headline: { accuracy: 0.1, macro_f1: 0.02 } } } };
  it('says what refused a candidate and what it needs', () => {
    const lines = describeOutcome({ metric: 'macro_f1', mode: 'max', evaluation, promote: { promoted: 0, candidate: 0.8, baseline: 0.85, threshold: 0.5, decided_by_baseline: 1, baseline_margin: -0.05, threshold_margin: 0.3 } });
    expect(lines[0]).toBe('Decision: NOT PROMOTED, refused by the baseline rule: macro_f1 0.8000 < TF-IDF + logistic regression 0.8500 (margin −0.0500).');
    expect(lines[1]).toMatch(/needs macro_f1 ≥ 0\.8500 \(\+0\.0500\)/);
    expect(lines.find((l) => l.includes('margin over'))).toMatch(/−0\.0500\s+−0\.0500$/);
  });
  it('names every rule a promoted candidate passed', () => {
    const lines = describeOutcome({ metric: 'macro_f1', mode: 'max', evaluation: { ...evaluation, headline: { accuracy: 0.96, macro_f1: 0.9 } }, promote: { promoted: 1, candidate: 0.9, baseline: 0.85, threshold: 0.5, decided_by_all: 1, baseline_margin: 0.05, threshold_margin: 0.4 } });
    expect(lines[0]).toBe('Decision: PROMOTED to champion. macro_f1 0.9000 is at least TF-IDF + logistic regression 0.8500 (margin +0.0500), the threshold 0.5000 (margin +0.4000).');
  });
});
