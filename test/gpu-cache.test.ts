// No GPU for cached work: with the one GPU slot held by a long training, a fully cached pipeline still completes
// in seconds, because its train and evaluate steps are answered by the ETL queue's cache probe.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelPipeline, getProgress, startPipeline } from '../sdk/pipelines.js';
import { createPipelineTestEnv, smallNewsSpec, type PipelineTestEnv } from './fixtures/pipeline-env.js';

let env: PipelineTestEnv;
beforeAll(async () => { env = await createPipelineTestEnv(); });
afterAll(async () => { await env?.close(); });

describe('cache hits never wait for a GPU slot', () => {
  it('a fully cached pipeline completes while the only GPU slot trains another run', async () => {
    const opts = { lake: env.lake, queues: env.queues };
    await env.run(async () => {
      const first = await (await startPipeline(env.server.client, smallNewsSpec(), { ...opts, runKey: 'warm' })).result();
      expect(first.steps.train.cached).toBe(false);

      // Another seed is another model version: a real, long training that holds the one slot.
      const long = await startPipeline(env.server.client, smallNewsSpec((s) => {
        const t = s.steps.find((x: { uses: string }) => x.uses === 'train');
        t.with.seed = 99;
        t.with.hparams.epochs = 200;
      }), { ...opts, runKey: 'long' });
      for (let i = 0; ; i++) {
        const p = await getProgress(long).catch(() => undefined);
        if (p?.steps.find((s) => s.name === 'train')?.training?.step) break;
        if (i > 600) throw new Error('the long training never started');
        await new Promise((r) => setTimeout(r, 250));
      }

      const t0 = Date.now();
      const cached = await (await startPipeline(env.server.client, smallNewsSpec(), { ...opts, runKey: 'cached' })).result();
      const seconds = (Date.now() - t0) / 1000;
      process.stderr.write(`[gpu-cache] fully cached pipeline took ${seconds.toFixed(1)} s with the GPU slot busy\n`);
      expect(cached.steps.train).toMatchObject({ cached: true, version: first.steps.train.version });
      expect(cached.steps.evaluate).toMatchObject({ cached: true, version: first.steps.evaluate.version });
      // The long run is still training: the cached run finished without its slot (no timing asserted: CI is loaded).
      expect((await getProgress(long)).steps.find((s) => s.name === 'train')?.state).toBe('running');

      await cancelPipeline(long, 'test done');
      await long.result().catch(() => undefined);
    });
  });
});
