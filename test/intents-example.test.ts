// The real-data example end to end: Home Assistant's voice commands (shipped in the home-assistant-intents package,
// expanded with hassil; nothing downloaded) → clean → features → train → evaluate → promote, with the TF-IDF baseline
// beside the model and the promotion gate holding the model to it. Prints model vs baseline vs majority.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { startPipeline } from '../sdk/pipelines.js';
import { openLake } from '../activities/lake/index.js';
import { readChampion } from '../steps/index.js';
import { createPipelineTestEnv, type PipelineTestEnv } from './fixtures/pipeline-env.js';
import { TRAINER_PYTHON } from './fixtures/training-helpers.js';

let env: PipelineTestEnv;
let tmp: string;
beforeAll(async () => {
  env = await createPipelineTestEnv({ generate: false });
  tmp = mkdtempSync(join(tmpdir(), 'lakeforge-intents-'));
});
afterAll(async () => {
  await env?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('examples/pipelines/intents.yaml on real data', () => {
  it('trains an intent classifier, reports it beside TF-IDF + LR and the majority class, and gates on the baseline', async () => {
    const local = join(tmp, 'intents.parquet');
    const exp = await execa(TRAINER_PYTHON, ['examples/intents/export_raw.py', '--out', local], { env: { PYTHONNOUSERSITE: '1' } });
    const exported = JSON.parse(exp.stdout) as { rows: number; labels: string[] };
    expect(exported.rows).toBeGreaterThan(3000);
    expect(exported.labels.length).toBe(31);
    const lake = openLake(env.lake, { home: tmp });
    await lake.putFile(local, 'raw/intents/part-00000.parquet');

    const spec = parse(readFileSync('examples/pipelines/intents.yaml', 'utf8'));
    // The YAML lists every intent the exporter writes: a new package version with other intents fails here first.
    expect(spec.dataset.labels.values).toEqual(exported.labels);
    const out = await env.run(async () => (await startPipeline(env.server.client, spec, { lake: env.lake, queues: env.queues, runKey: 'real' })).result());
    expect(Object.keys(out.steps)).toEqual(['clean', 'features', 'train', 'evaluate', 'promote']);

    const evalRel = lake.relative(out.steps.evaluate.uri);
    const m = JSON.parse((await lake.readText(`${evalRel}/metrics.json`))!);
    const model = m.headline.macro_f1 as number;
    const tfidf = m.baselines.tfidf_logreg.headline.macro_f1 as number;
    const majority = m.baselines.majority.headline.macro_f1 as number;
    const trainSeconds = (JSON.parse((await lake.readText(`${lake.relative(out.steps.train.uri)}/metrics.json`))!).throughput.seconds) as number;
    process.stderr.write(`[measure] intents (${m.rows} test rows, 31 classes): macro-F1 model ${model.toFixed(4)} / TF-IDF+LR ${tfidf.toFixed(4)} / majority ${majority.toFixed(4)}; accuracy ${m.headline.accuracy.toFixed(4)} / ${m.baselines.tfidf_logreg.headline.accuracy.toFixed(4)} / ${m.baselines.majority.headline.accuracy.toFixed(4)}; baseline ${m.baselines.tfidf_logreg.cpu_seconds} s CPU vs training ${trainSeconds.toFixed(1)} s\n`);
    // Real signal, for both: far above always answering the largest intent.
    expect(majority).toBeLessThan(0.01);
    expect(tfidf).toBeGreaterThan(0.8);
    expect(model).toBeGreaterThan(0.5);
    // The cheap baseline stays cheap next to training.
    expect(m.baselines.tfidf_logreg.cpu_seconds).toBeLessThan(trainSeconds);

    // The gate compared the model with the best baseline and decided by it when the model lost.
    const p = out.steps.promote.metrics!;
    expect(p.candidate).toBe(model);
    expect(p.baseline).toBe(tfidf);
    expect(p.baseline_margin).toBeCloseTo(model - tfidf, 9);
    expect(p.promoted).toBe(model >= tfidf ? 1 : 0);
    expect(p[model >= tfidf ? 'decided_by_all' : 'decided_by_baseline']).toBe(1);
    const champ = await readChampion(lake, 'intents-bert');
    if (model >= tfidf) expect(champ?.decision?.checks.find((c) => c.rule === 'baseline')).toMatchObject({ passed: true, against: tfidf });
    else expect(champ).toBeNull();
    const html = (await lake.readText(`${evalRel}/report.html`))!;
    expect(html).toContain('baseline: TF-IDF + logistic regression');
  });
});
