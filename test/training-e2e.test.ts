// train → evaluate → promote end to end: real dev server, real trainer process, a tiny from-config model on CPU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { connectTestServer, uniqueTaskQueue } from './helpers/temporal.js';
import { makeLocalLake, type TestLake } from './fixtures/lake-helpers.js';
import { publishFeatures, tinyTrainParams, TRAINER_PYTHON } from './fixtures/training-helpers.js';
import { buildManifest, lakeJoin, MANIFEST_FILE } from '../activities/lake/index.js';
import { createGpuActivities, CPU_SLOT, readChampion, SlotAllocator } from '../activities/steps/index.js';
import type { StepResult } from '../contracts/step-result.js';
import type { TrainingTestArgs } from './fixtures/training-workflows.js';

const WORKFLOWS = fileURLToPath(new URL('./fixtures/training-workflows.ts', import.meta.url));

describe('train → evaluate → promote on the GPU queue', () => {
  let server: Awaited<ReturnType<typeof connectTestServer>>;
  let tl: TestLake;
  let features: StepResult;
  let worker: Worker;
  let running: Promise<void>;
  const gpuQueue = uniqueTaskQueue('gpu-e2e');

  beforeAll(async () => {
    server = await connectTestServer();
    tl = await makeLocalLake();
    features = await publishFeatures(tl.lake);
    worker = await Worker.create({
      connection: server.nativeConnection,
      taskQueue: gpuQueue,
      workflowsPath: WORKFLOWS,
      activities: createGpuActivities({
        home: tl.home,
        python: TRAINER_PYTHON,
        slots: new SlotAllocator([CPU_SLOT]),
        trainerEnv: { OMP_NUM_THREADS: '1', LAKEFORGE_TRAINER_VALIDATE_EVENTS: '1' },
      }),
      maxConcurrentActivityTaskExecutions: 1,
      maxHeartbeatThrottleInterval: '1s',
    });
    running = worker.run();
  });
  afterAll(async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await server?.close();
    await tl?.cleanup();
  });

  const args = (over: Partial<TrainingTestArgs> = {}): TrainingTestArgs => ({
    lake: tl.uri, runId: `run-${Date.now()}`, model: 'tiny', features, gpuQueue,
    train: tinyTrainParams(), evaluate: {}, promote: { metric: 'accuracy', threshold: 0, mode: 'max', mustBeatChampion: true },
    ...over,
  });
  const run = (a: TrainingTestArgs, id = `train-e2e-${Date.now()}`) =>
    server.client.workflow.execute('trainingTestWorkflow', { taskQueue: gpuQueue, workflowId: id, args: [a] });

  it('trains, evaluates and promotes; publishes the model, the evaluation and report.html; a re-run is all cache hits', async () => {
    const first = await run(args());
    const { trained, evaluated, promoted } = first;
    expect(trained).toMatchObject({ step: 'train', cached: false });
    expect(trained.uri).toBe(tl.lake.uri(`models/tiny/${trained.version}`));
    expect(trained.metrics).toMatchObject({ steps: 24, attempts: 1 });
    const modelFiles = (await tl.lake.list(`models/tiny/${trained.version}`)).map((o) => o.path.split('/').slice(3).join('/'));
    expect(modelFiles).toEqual(expect.arrayContaining([
      'model.safetensors', 'config.json', 'tokenizer.json', 'label_map.json', 'training_args.json', 'metrics.json', 'training_history.json', MANIFEST_FILE,
    ]));
    const history = JSON.parse((await tl.lake.readText(`models/tiny/${trained.version}/training_history.json`))!);
    expect(history.points.filter((p: { event: string }) => p.event === 'progress').length).toBeGreaterThan(0);

    expect(evaluated).toMatchObject({ step: 'evaluate', cached: false, rows: 48 });
    expect(evaluated!.uri).toBe(tl.lake.uri(`models/tiny/${trained.version}/eval`));
    expect(evaluated!.metrics!.accuracy).toBeGreaterThanOrEqual(0);
    const evalFiles = (await tl.lake.list(`models/tiny/${trained.version}/eval`)).map((o) => o.path.split('/').pop());
    expect(evalFiles).toEqual(expect.arrayContaining(['metrics.json', 'predictions.parquet', 'report.html', MANIFEST_FILE]));
    const html = (await tl.lake.readText(`models/tiny/${trained.version}/eval/report.html`))!;
    expect(html).toContain('<svg');
    expect(html).toContain('Confusion matrix');
    expect(html).toContain('Per class');
    expect(html).toContain('train loss');
    expect(html).not.toMatch(/<script|<link|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);

    expect(promoted).toMatchObject({ step: 'promote', version: trained.version, cached: false });
    expect(promoted!.metrics).toMatchObject({ promoted: 1, candidate: evaluated!.metrics!.accuracy });
    const champion = await readChampion(tl.lake, 'tiny');
    expect(champion).toMatchObject({ model: 'tiny', version: trained.version, metric: 'accuracy', value: evaluated!.metrics!.accuracy, previous: null });

    const again = await run(args(), `train-e2e-again-${Date.now()}`);
    expect(again.trained).toMatchObject({ version: trained.version, cached: true });
    expect(again.evaluated).toMatchObject({ version: evaluated!.version, cached: true });
    expect(again.promoted).toMatchObject({ version: trained.version, cached: true, metrics: { promoted: 1 } });
  });

  it('promotion refuses a worse model (and one under the threshold) and accepts a better one', async () => {
    const champ = (await readChampion(tl.lake, 'tiny'))!;
    expect(champ).not.toBeNull();
    const fakeEval = async (version: string, accuracy: number): Promise<StepResult> => {
      const rel = lakeJoin('models', 'tiny', version, 'eval');
      const work = await tl.lake.createWorkDir(rel);
      const m = buildManifest({
        version: `eval-${version}`, step: 'evaluate', inputs: [version], params: {}, files: [], schema: [],
        extra: { kind: 'evaluation', model: 'tiny', modelVersion: version, modelUri: tl.lake.uri(`models/tiny/${version}`), metrics: { accuracy } },
      });
      await tl.lake.publish(work, rel, m);
      return { step: 'evaluate', version: m.version, uri: tl.lake.uri(rel), cached: false, metrics: { accuracy }, manifest: tl.lake.uri(`${rel}/${MANIFEST_FILE}`) };
    };
    const promote = (evaluated: StepResult, threshold = 0) =>
      server.client.workflow.execute('promoteTestWorkflow', {
        taskQueue: gpuQueue, workflowId: `promote-${evaluated.version}-${threshold}-${Date.now()}`,
        args: [{ lake: tl.uri, model: 'tiny', evaluated, promote: { metric: 'accuracy', threshold, mode: 'max', mustBeatChampion: true }, gpuQueue }],
      });

    const worse = await promote(await fakeEval('worse', champ.value - 0.05));
    expect(worse.metrics).toEqual({ promoted: 0, candidate: champ.value - 0.05, champion: champ.value, threshold: 0 });
    expect(worse.version).toBe(champ.version);
    expect((await readChampion(tl.lake, 'tiny'))!.version).toBe(champ.version);

    const betterEval = await fakeEval('better', champ.value + 0.05);
    const underThreshold = await promote(betterEval, 2);
    expect(underThreshold.metrics).toMatchObject({ promoted: 0, candidate: champ.value + 0.05, threshold: 2 });
    expect((await readChampion(tl.lake, 'tiny'))!.version).toBe(champ.version);

    const better = await promote(betterEval);
    expect(better.metrics).toEqual({ promoted: 1, candidate: champ.value + 0.05, champion: champ.value, threshold: 0 });
    const now = (await readChampion(tl.lake, 'tiny'))!;
    expect(now).toMatchObject({ version: 'better', value: champ.value + 0.05, previous: { version: champ.version, value: champ.value } });
    expect(now.reason).toContain('≥');
  });

  it('fails bad input with a non-retryable BadInput after exactly one attempt', async () => {
    const broken = await publishFeatures(tl.lake, { broken: true });
    const id = `train-bad-${Date.now()}`;
    const err = await run(args({ features: broken, maxAttempts: 5 }), id).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const af = (err as WorkflowFailedError).cause as ActivityFailure;
    expect(af).toBeInstanceOf(ActivityFailure);
    const cause = af.cause as ApplicationFailure;
    expect(cause.type).toBe('BadInput');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toContain('zzz-unknown');
    const history = await server.client.workflow.getHandle(id).fetchHistory();
    const started = history.events!.filter((e) => e.activityTaskStartedEventAttributes);
    expect(started).toHaveLength(1);
    expect(started[0].activityTaskStartedEventAttributes!.attempt).toBe(1);
  });
});
