import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getProgress, startPipeline, cancelPipeline } from '../sdk/pipelines.js';
import { liveTrainerPids } from '../steps/index.js';
import { LakeforgePipeline, LakeforgeStatus } from '../contracts/search-attributes.js';
import { createPipelineTestEnv, smallNewsSpec, type PipelineTestEnv } from './fixtures/pipeline-env.js';
import { workflowBundle } from './helpers/temporal.js';

let env: PipelineTestEnv;
beforeAll(async () => { env = await createPipelineTestEnv(); });
afterAll(async () => { await env?.close(); });

const opts = () => ({ lake: env.lake, queues: env.queues });

describe('pipelineWorkflow end to end (real workers, real DuckDB, real trainer)', () => {
  it('runs clean → features → train → evaluate → promote, then re-runs from cache', async () => {
    await env.run(async () => {
      const handle = await startPipeline(env.server.client, smallNewsSpec(), { ...opts(), runKey: 'first' });
      expect(handle.workflowId).toBe('lakeforge/news-topics/first');
      const out = await handle.result();
      expect(Object.keys(out.steps)).toEqual(['clean', 'features', 'train', 'evaluate', 'promote']);
      for (const r of Object.values(out.steps)) expect(r.cached).toBe(false);
      expect(out.steps.clean.metrics).toBeDefined();
      expect(out.steps.promote.metrics?.promoted).toBe(1);
      expect(existsSync(join(env.lakeDir, 'models', 'news-bert', 'champion.json'))).toBe(true);

      const progress = await getProgress(handle);
      expect(progress.status).toBe('succeeded');
      expect(progress.steps.map((s) => s.state)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded']);
      const d = await handle.describe();
      expect(d.typedSearchAttributes.get(LakeforgePipeline)).toBe('news-topics');
      expect(d.typedSearchAttributes.get(LakeforgeStatus)).toBe('succeeded');
      expect(await d.staticSummary()).toContain('clean → features → train → evaluate → promote');

      const history = await handle.fetchHistory();
      await Worker.runReplayHistory(workflowBundle(), history, handle.workflowId);
      if (process.env.LAKEFORGE_RECORD_HISTORIES) writeFileSync('test/histories/news-pipeline.json', historyToJSON(history!));

      // Same spec again: every step is a cache hit and nothing is recomputed.
      const again = await (await startPipeline(env.server.client, smallNewsSpec(), { ...opts(), runKey: 'second' })).result();
      for (const name of ['clean', 'features', 'train', 'evaluate']) {
        expect(again.steps[name].cached, name).toBe(true);
        expect(again.steps[name].version).toBe(out.steps[name].version);
      }
    });
  });

  it('fails on a bad step, and a fixed re-run reuses the steps that had succeeded', async () => {
    await env.run(async () => {
      // Labels that miss most of the data's classes: the trainer rejects the input (BadInput, not retried).
      const broken = smallNewsSpec((s) => { s.steps.find((x: any) => x.uses === 'train').with.labels = ['business']; });
      const err = await (await startPipeline(env.server.client, broken, { ...opts(), runKey: 'broken' })).result().catch((e) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const failure = (err as WorkflowFailedError).cause as { type?: string; message: string };
      expect(failure.type).toBe('StepFailed');
      expect(failure.message).toMatch(/step "train" failed: BadInput/);

      const fixed = await (await startPipeline(env.server.client, smallNewsSpec(), { ...opts(), runKey: 'fixed' })).result();
      expect(fixed.steps.clean.cached).toBe(true);
      expect(fixed.steps.features.cached).toBe(true);
    });
  });

  it('runs independent branches in parallel', async () => {
    await env.run(async () => {
      const spec = smallNewsSpec((s) => {
        const features = s.steps.find((x: any) => x.uses === 'features');
        s.steps = [s.steps[0], { ...features, name: 'features-a', with: { ...features.with, split: { ...features.with.split, seed: 'a' } } },
          { ...features, name: 'features-b', with: { ...features.with, split: { ...features.with.split, seed: 'b' } } }];
      });
      const handle = await startPipeline(env.server.client, spec, { ...opts(), runKey: 'parallel' });
      await handle.result();
      const steps = (await getProgress(handle)).steps;
      const [a, b] = [steps.find((x) => x.name === 'features-a')!, steps.find((x) => x.name === 'features-b')!];
      // Both started before either ended.
      expect(a.startedAt!).toBeLessThan(b.endedAt!);
      expect(b.startedAt!).toBeLessThan(a.endedAt!);
    });
  });

  it('shows training progress while it runs, and the cancel update stops the trainer cleanly', async () => {
    await env.run(async () => {
      const spec = smallNewsSpec((s) => {
        const t = s.steps.find((x: any) => x.uses === 'train');
        t.with.hparams = { ...t.with.hparams, epochs: 50 };
        t.with.seed = 99; // a new train version: no cache hit
      });
      const handle = await startPipeline(env.server.client, spec, { ...opts(), runKey: 'cancel-me' });
      let training: any;
      // A checkpoint event can reach the table before the first progress event does: wait for a loss as well.
      for (let i = 0; i < 600 && !(training?.step > 0 && typeof training?.loss === 'number'); i++) {
        await new Promise((r) => setTimeout(r, 250));
        training = (await getProgress(handle)).steps.find((s) => s.name === 'train')?.training;
      }
      expect(training.step).toBeGreaterThan(0);
      expect(typeof training.loss).toBe('number');
      const details = (await handle.describe()).raw.executionConfig?.userMetadata;
      void details;

      const answer = await cancelPipeline(handle, 'test asked');
      expect(answer.cancelled).toBe(true);
      // While the trainer checkpoints, a repeated cancel is rejected: it adds nothing to the history.
      const again = await cancelPipeline(handle, 'asked twice');
      expect(again).toEqual({ cancelled: false, reason: 'already cancelling: test asked' });
      const err = await handle.result().catch((e) => e);
      expect((err as WorkflowFailedError).cause).toMatchObject({ type: 'Cancelled' });
      const progress = await getProgress(handle);
      expect(progress.status).toBe('cancelled');
      expect(progress.steps.find((s) => s.name === 'train')!.state).toBe('cancelled');
      expect(progress.steps.find((s) => s.name === 'evaluate')!.state).toBe('skipped');
      expect((await handle.describe()).typedSearchAttributes.get(LakeforgeStatus)).toBe('cancelled');
      expect(liveTrainerPids()).toEqual([]);
      const events = (await handle.fetchHistory()).events ?? [];
      const accepted = events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
      expect(accepted).toBe(1);
      expect(events.filter((e) => e.workflowExecutionSignaledEventAttributes).length).toBe(0);
      // No signals (live progress came from the heartbeat), and the history replays with its rejected second cancel.
      await Worker.runReplayHistory(workflowBundle(), await handle.fetchHistory(), handle.workflowId);
    });
  });
});

describe('replay of recorded histories', () => {
  it.each(['news-pipeline.json', 'gang-broker-idle.json'])('%s replays against the current workflow code', async (file) => {
    const path = join('test', 'histories', file);
    expect(existsSync(path), `${path} is committed`).toBe(true);
    await Worker.runReplayHistory(workflowBundle(), historyFromJSON(JSON.parse(readFileSync(path, 'utf8'))));
  });
});
