// train → evaluate → promote end to end: real dev server, real trainer process, a tiny from-config model on CPU.
import { describe, expect, it } from 'vitest';
import { useGpuTestEnv } from './fixtures/gpu-test-env.js';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { publishFeatures, tinyTrainParams } from './fixtures/training-helpers.js';
import { buildManifest, lakeJoin, MANIFEST_FILE } from '../activities/lake/index.js';
import { readChampion } from '../steps/index.js';
import type { StepResult } from '../contracts/step-result.js';
import type { TrainingTestArgs } from './fixtures/training-workflows.js';


describe('train → evaluate → promote on the GPU queue', () => {
  const gpu = useGpuTestEnv({ queue: 'gpu-e2e', deps: { trainerEnv: { LAKEFORGE_TRAINER_VALIDATE_EVENTS: '1' } } });

  const args = (over: Partial<TrainingTestArgs> = {}): TrainingTestArgs => ({
    lake: gpu.tl.uri, runId: `run-${Date.now()}`, model: 'tiny', features: gpu.features, gpuQueue: gpu.gpuQueue,
    // The 2-epoch tiny model loses to the TF-IDF baseline on this data; these tests are about the pipeline's mechanics,
    // the baseline rule has its own test below.
    train: tinyTrainParams(), evaluate: {}, promote: { metric: 'accuracy', threshold: 0, mode: 'max', mustBeatChampion: true, mustBeatBaseline: false },
    ...over,
  });
  const run = (a: TrainingTestArgs, id = `train-e2e-${Date.now()}`) =>
    gpu.server.client.workflow.execute('trainingTestWorkflow', { taskQueue: gpu.gpuQueue, workflowId: id, args: [a] });

  it('trains, evaluates and promotes; publishes the model, the evaluation and report.html; a re-run is all cache hits', async () => {
    const first = await run(args());
    const { trained, evaluated, promoted } = first;
    expect(trained).toMatchObject({ step: 'train', cached: false });
    expect(trained.uri).toBe(gpu.tl.lake.uri(`models/tiny/${trained.version}`));
    expect(trained.metrics).toMatchObject({ steps: 24, attempts: 1 });
    const modelFiles = (await gpu.tl.lake.list(`models/tiny/${trained.version}`)).map((o) => o.path.split('/').slice(3).join('/'));
    expect(modelFiles).toEqual(expect.arrayContaining([
      'model.safetensors', 'config.json', 'tokenizer.json', 'label_map.json', 'training_args.json', 'metrics.json', 'training_history.json', MANIFEST_FILE,
    ]));
    const history = JSON.parse((await gpu.tl.lake.readText(`models/tiny/${trained.version}/training_history.json`))!);
    expect(history.points.filter((p: { event: string }) => p.event === 'progress').length).toBeGreaterThan(0);

    expect(evaluated).toMatchObject({ step: 'evaluate', cached: false, rows: 48 });
    expect(evaluated!.uri).toBe(gpu.tl.lake.uri(`models/tiny/${trained.version}/eval`));
    expect(evaluated!.metrics!.accuracy).toBeGreaterThanOrEqual(0);
    const evalFiles = (await gpu.tl.lake.list(`models/tiny/${trained.version}/eval`)).map((o) => o.path.split('/').pop());
    expect(evalFiles).toEqual(expect.arrayContaining(['metrics.json', 'predictions.parquet', 'report.html', MANIFEST_FILE]));
    const html = (await gpu.tl.lake.readText(`models/tiny/${trained.version}/eval/report.html`))!;
    expect(html).toContain('<svg');
    expect(html).toContain('Confusion matrix');
    expect(html).toContain('Per class');
    expect(html).toContain('train loss');
    expect(html).not.toMatch(/<script|<link|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);

    expect(promoted).toMatchObject({ step: 'promote', version: trained.version, cached: false });
    expect(promoted!.metrics).toMatchObject({ promoted: 1, candidate: evaluated!.metrics!.accuracy });
    const champion = await readChampion(gpu.tl.lake, 'tiny');
    expect(champion).toMatchObject({ model: 'tiny', version: trained.version, metric: 'accuracy', value: evaluated!.metrics!.accuracy, previous: null });

    const again = await run(args(), `train-e2e-again-${Date.now()}`);
    expect(again.trained).toMatchObject({ version: trained.version, cached: true });
    expect(again.evaluated).toMatchObject({ version: evaluated!.version, cached: true });
    expect(again.promoted).toMatchObject({ version: trained.version, cached: true, metrics: { promoted: 1 } });
  });

  it('promotion refuses a worse model (and one under the threshold) and accepts a better one', async () => {
    const champ = (await readChampion(gpu.tl.lake, 'tiny'))!;
    expect(champ).not.toBeNull();
    const fakeEval = async (version: string, accuracy: number): Promise<StepResult> => {
      const rel = lakeJoin('models', 'tiny', version, 'eval');
      const work = await gpu.tl.lake.createWorkDir(rel);
      const m = buildManifest({
        version: `eval-${version}`, step: 'evaluate', inputs: [version], params: {}, files: [], schema: [],
        extra: { kind: 'evaluation', model: 'tiny', modelVersion: version, modelUri: gpu.tl.lake.uri(`models/tiny/${version}`), metrics: { accuracy } },
      });
      await gpu.tl.lake.publish(work, rel, m);
      return { step: 'evaluate', version: m.version, uri: gpu.tl.lake.uri(rel), cached: false, metrics: { accuracy }, manifest: gpu.tl.lake.uri(`${rel}/${MANIFEST_FILE}`) };
    };
    const promote = (evaluated: StepResult, threshold = 0) =>
      gpu.server.client.workflow.execute('promoteTestWorkflow', {
        taskQueue: gpu.gpuQueue, workflowId: `promote-${evaluated.version}-${threshold}-${Date.now()}`,
        args: [{ lake: gpu.tl.uri, model: 'tiny', evaluated, promote: { metric: 'accuracy', threshold, mode: 'max', mustBeatChampion: true }, gpuQueue: gpu.gpuQueue }],
      });

    const worse = await promote(await fakeEval('worse', champ.value - 0.05));
    // These hand-made evaluations carry no baselines: that rule is skipped, and the champion rule decides.
    expect(worse.metrics).toEqual({
      promoted: 0, candidate: champ.value - 0.05, champion: champ.value, threshold: 0,
      decided_by_champion: 1, rule_threshold: 1, threshold_margin: champ.value - 0.05, rule_champion: 0, champion_margin: expect.closeTo(-0.05, 9),
    });
    expect(worse.version).toBe(champ.version);
    expect((await readChampion(gpu.tl.lake, 'tiny'))!.version).toBe(champ.version);

    const betterEval = await fakeEval('better', champ.value + 0.05);
    const underThreshold = await promote(betterEval, 2);
    expect(underThreshold.metrics).toMatchObject({ promoted: 0, candidate: champ.value + 0.05, threshold: 2, decided_by_threshold: 1, rule_threshold: 0 });
    expect((await readChampion(gpu.tl.lake, 'tiny'))!.version).toBe(champ.version);

    const better = await promote(betterEval);
    expect(better.metrics).toEqual({
      promoted: 1, candidate: champ.value + 0.05, champion: champ.value, threshold: 0,
      decided_by_all: 1, rule_threshold: 1, threshold_margin: champ.value + 0.05, rule_champion: 1, champion_margin: expect.closeTo(0.05, 9),
    });
    const now = (await readChampion(gpu.tl.lake, 'tiny'))!;
    expect(now).toMatchObject({ version: 'better', value: champ.value + 0.05, previous: { version: champ.version, value: champ.value } });
    expect(now.reason).toContain('≥');
    expect(now.decision).toMatchObject({ decidedBy: 'all', skipped: ['baseline: the evaluation reports no baseline accuracy'] });
  });

  it('the baseline gate: a weak model loses to TF-IDF + logistic regression and is not promoted; a strong one is', async () => {
    const gate = { metric: 'macro_f1', threshold: 0, mode: 'max' as const, mustBeatChampion: false };
    // One optimizer step at a tiny learning rate: next to chance on three balanced classes.
    const weak = await run(args({ model: 'gate', train: tinyTrainParams({ hparams: { max_steps: 1, learning_rate: 1e-6 } }), promote: gate }), `gate-weak-${Date.now()}`);
    const wm = weak.evaluated!.metrics!;
    const evalBody = JSON.parse((await gpu.tl.lake.readText(`${gpu.tl.lake.relative(weak.evaluated!.uri)}/metrics.json`))!);
    const tfidf = evalBody.baselines.tfidf_logreg.headline.macro_f1 as number;
    const majority = evalBody.baselines.majority.headline.macro_f1 as number;
    process.stderr.write(`[measure] gate: weak model macro_f1 ${wm.macro_f1.toFixed(4)}, TF-IDF+LR ${tfidf.toFixed(4)} (${evalBody.baselines.tfidf_logreg.cpu_seconds} s CPU), majority ${majority.toFixed(4)}\n`);
    expect(tfidf).toBeGreaterThan(wm.macro_f1);
    expect(weak.promoted!.metrics).toMatchObject({ promoted: 0, candidate: wm.macro_f1, baseline: tfidf, decided_by_baseline: 1, rule_threshold: 1, rule_baseline: 0 });
    expect(weak.promoted!.metrics!.baseline_margin).toBeCloseTo(wm.macro_f1 - tfidf, 9);
    expect(await readChampion(gpu.tl.lake, 'gate')).toBeNull();

    const strong = await run(args({ model: 'gate', train: tinyTrainParams({ hparams: { epochs: 8, learning_rate: 3e-3 } }), promote: gate }), `gate-strong-${Date.now()}`);
    const sm = strong.evaluated!.metrics!;
    process.stderr.write(`[measure] gate: strong model macro_f1 ${sm.macro_f1.toFixed(4)} vs TF-IDF+LR ${tfidf.toFixed(4)}\n`);
    expect(strong.promoted!.metrics).toMatchObject({ promoted: 1, candidate: sm.macro_f1, baseline: tfidf, decided_by_all: 1, rule_baseline: 1 });
    const champ = (await readChampion(gpu.tl.lake, 'gate'))!;
    expect(champ.version).toBe(strong.trained.version);
    expect(champ.decision!.checks.map((c) => c.rule)).toEqual(['threshold', 'baseline']);
    expect(champ.decision!.checks[1]).toMatchObject({ rule: 'baseline', name: 'tfidf_logreg', against: tfidf, passed: true });
    expect(champ.reason).toContain('baseline tfidf_logreg');
  });

  it('long texts: train cuts head+tail and says how much; evaluate scores every token in pooled windows', async () => {
    const short = tinyTrainParams({ maxLength: 8, truncation: 'head+tail', headTokens: 2, hparams: { epochs: 1 } });
    const r = await run(args({ model: 'long', train: short, evaluate: { chunks: { size: 6, stride: 3, pool: 'max' } } }), `long-${Date.now()}`);
    // 6 content tokens of 6–13 words: most rows are cut, by several tokens.
    expect(r.trained.metrics!.train_truncated_rows).toBeGreaterThan(100);
    expect(r.trained.metrics!.train_truncated_tokens_mean).toBeGreaterThan(1);
    expect(r.evaluated!.metrics).toMatchObject({ truncated_rows: 0, truncated_fraction: 0 });
    const m = JSON.parse((await gpu.tl.lake.readText(`${gpu.tl.lake.relative(r.evaluated!.uri)}/metrics.json`))!);
    expect(m.chunks).toMatchObject({ size: 6, stride: 3, pool: 'max' });
    expect(m.chunks.windows).toBeGreaterThan(m.rows);
    const manifest = JSON.parse((await gpu.tl.lake.readText(`${gpu.tl.lake.relative(r.evaluated!.uri)}/${MANIFEST_FILE}`))!);
    // The evaluation inherits the model's truncation (used when chunks are off) and records it.
    expect(manifest.params).toMatchObject({ truncation: 'head+tail', headTokens: 2, maxLength: 8 });
  });

  it('fails bad input with a non-retryable BadInput after exactly one attempt', async () => {
    const broken = await publishFeatures(gpu.tl.lake, { broken: true });
    const id = `train-bad-${Date.now()}`;
    const err = await run(args({ features: broken, maxAttempts: 5 }), id).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const af = (err as WorkflowFailedError).cause as ActivityFailure;
    expect(af).toBeInstanceOf(ActivityFailure);
    const cause = af.cause as ApplicationFailure;
    expect(cause.type).toBe('BadInput');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toContain('zzz-unknown');
    const history = await gpu.server.client.workflow.getHandle(id).fetchHistory();
    const started = history.events!.filter((e) => e.activityTaskStartedEventAttributes);
    expect(started).toHaveLength(1);
    expect(started[0].activityTaskStartedEventAttributes!.attempt).toBe(1);
  });
});
