// A project's own TypeScript step (defineStep) through the kernel and a real pipeline run: published with a
// manifest, a re-run is a cache hit, an edited step source is a new version for that step and its dependents only,
// bad params are refused before anything runs, and a step that throws fails with a named type.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { WorkflowFailedError } from '@temporalio/client';
import { startPipeline } from '../sdk/pipelines.js';
import { InvalidPipelineError } from '../sdk/load-spec.js';
import { readManifest } from '../activities/lake/index.js';
import { openLake } from '../activities/lake/index.js';
import { defineProject, defineStep, type LoadedProject } from '../steps/user/define.js';
import { createPipelineTestEnv, smallNewsSpec, type PipelineTestEnv } from './fixtures/pipeline-env.js';

let env: PipelineTestEnv;
let project: LoadedProject;
let stepFile: string;

beforeAll(async () => {
  // The step's module in a directory of its own, so the test can edit its source like a user would.
  const root = mkdtempSync(join(tmpdir(), 'lakeforge-project-'));
  stepFile = join(root, 'dedupe-texts.ts');
  copyFileSync('test/fixtures/project/steps/dedupe-texts.ts', stepFile);
  const dedupe = defineStep({ ...(await import('./fixtures/project/steps/dedupe-texts.js')).default, source: stepFile });
  const boom = defineStep({
    name: 'boom', params: z.strictObject({}), source: stepFile, retry: { maximumAttempts: 2 },
    async run() { throw new Error('the service said no'); },
  });
  project = { root, config: defineProject({ steps: [dedupe, boom] }) };
  env = await createPipelineTestEnv({ project });
});

afterAll(async () => { await env?.close(); });

/** clean → dedupe-texts (the project's step) → features → train → evaluate → promote. */
function spec(over: (s: any) => void = () => {}) {
  return smallNewsSpec((s) => {
    const features = s.steps.find((x: any) => x.uses === 'features');
    s.steps.splice(1, 0, { name: 'dedupe', uses: 'dedupe-texts', needs: ['clean'], with: { minLength: 3 } });
    features.needs = ['dedupe'];
    over(s);
  });
}

describe('a project TypeScript step (defineStep)', () => {
  it('runs between clean and features, publishes with a manifest, re-runs from cache, and versions by its source', async () => {
    await env.run(async () => {
      const run = async (key: string) => (await startPipeline(env.server.client, spec(), { lake: env.lake, queues: env.queues, runKey: key, project })).result();
      const first = await run(`u1-${process.pid}`);
      const d = first.steps.dedupe;
      expect(d.uri).toBe(`${env.lake}/dedupe/news/${d.version}`);
      expect(d.cached).toBe(false);
      const lake = openLake(env.lake);
      const m = (await readManifest(lake, lake.relative(d.uri)))!;
      expect(m.step).toBe('dedupe-texts');
      expect(m.rows).toBe(d.rows);
      expect(m.rows).toBeLessThanOrEqual(first.steps.clean.rows!);
      expect(m.inputs).toEqual([first.steps.clean.version]);
      expect(first.steps.features.rows).toBe(d.rows);

      const again = await run(`u2-${process.pid}`);
      expect(Object.values(again.steps).every((s) => s.cached)).toBe(true);

      // An edited step source: a new version for the step and everything after it; clean stays cached.
      writeFileSync(stepFile, `${readFileSync(stepFile, 'utf8')}\n// edited\n`);
      const edited = await run(`u3-${process.pid}`);
      expect(edited.steps.clean).toMatchObject({ cached: true, version: first.steps.clean.version });
      expect(edited.steps.dedupe.version).not.toBe(d.version);
      expect(edited.steps.dedupe.cached).toBe(false);
      expect(edited.steps.features.version).not.toBe(first.steps.features.version);
    });
  }, 300_000);

  it('refuses bad params before anything runs, naming the field', async () => {
    const err = await startPipeline(env.server.client, spec((s) => { s.steps[1].with = { minLength: 'long' }; }), { lake: env.lake, queues: env.queues, project }).catch((e) => e);
    expect(err).toBeInstanceOf(InvalidPipelineError);
    expect((err as InvalidPipelineError).errors[0].path.join('.')).toBe('steps.1.with.minLength');
    const unknown = await startPipeline(env.server.client, spec((s) => { s.steps[1].uses = 'dedupe-textz'; }), { lake: env.lake, queues: env.queues, project }).catch((e) => e);
    expect((unknown as InvalidPipelineError).errors[0]).toMatchObject({ path: ['steps', 1, 'uses'], message: expect.stringMatching(/unknown step kind "dedupe-textz"/) });
  });

  it('fails a step that throws with UserStepFailed naming the step, after its retries', async () => {
    await env.run(async () => {
      const s = spec((x) => { x.steps.splice(2, 0, { name: 'boom', uses: 'boom', needs: ['dedupe'] }); });
      const handle = await startPipeline(env.server.client, s, { lake: env.lake, queues: env.queues, project, runKey: `boom-${process.pid}` });
      const err = await handle.result().catch((e) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const text = JSON.stringify(err, Object.getOwnPropertyNames(err)) + String((err as any).cause?.cause?.cause?.message ?? '');
      expect(text).toMatch(/UserStepFailed|step boom .* threw: the service said no/);
    });
  }, 300_000);
});
