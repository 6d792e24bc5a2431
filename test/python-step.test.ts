// A project's Python step through the kernel, called as an activity function (no workflow): a real local lake, an
// upstream clean output made by the clean activity, the example scripts of test/fixtures/python-steps run in the
// lakeforge venv, supervised like the trainer. Attempts are numbered by Temporal's MockActivityEnvironment.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { createEtlActivities } from '../steps/index.js';
import { readManifest } from '../activities/lake/index.js';
import { loadConfig } from '../activities/common/config.js';
import { CPU_SLOT, SlotAllocator } from '../activities/trainer/slots.js';
import { runPythonStep } from '../steps/python/activity.js';
import { resolvePython } from '../steps/python/script.js';
import type { PythonHeartbeat } from '../steps/python/activity.js';
import type { PythonStepDeps } from '../steps/python/types.js';
import { pythonStep } from '../steps/user/define.js';
import type { StepResult } from '../contracts/step-result.js';
import { generateTextClassification, TEXT_CLEAN_PARAMS } from '../examples/generate-lib.js';
import { makeLocalLake, readRows, testDuckDb, failureOf, type TestLake } from './fixtures/lake-helpers.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = join(REPO, 'test', 'fixtures', 'python-steps');

let tl: TestLake;
let duckdb: DuckDBInstance;
let conn: DuckDBConnection;
let project: string;
let deps: PythonStepDeps;
let clean: StepResult;
let cleanRows: Record<string, unknown>[];

const wordCounts = pythonStep({
  name: 'word-counts', script: 'steps/word_counts.py',
  params: z.strictObject({ column: z.string().default('text'), min_words: z.number().int().min(0) }),
});
const counter = pythonStep({
  name: 'counter', script: 'steps/counting_trainer.py', queue: 'gpu',
  params: z.strictObject({ steps: z.number().int(), checkpoint_every: z.number().int(), sleep_s: z.number() }),
});
const misbehaving = pythonStep({
  name: 'misbehaving', script: 'steps/misbehaving.py',
  params: z.strictObject({ mode: z.enum(['outside', 'symlink', 'bad_input', 'crash', 'nothing', 'ok']) }),
});

function inputOf(step: string, params: Record<string, unknown>, runId = 'run-1') {
  return { lake: tl.uri, dataset: 'news', step, runId, inputs: { input: clean }, params };
}


/** No manifest anywhere under the step's tree: nothing was published. */
async function publishedUnder(step: string): Promise<string[]> {
  return (await tl.lake.list(step)).map((o) => o.path).filter((p) => p.endsWith('_manifest.json'));
}

beforeAll(async () => {
  tl = await makeLocalLake();
  ({ duckdb, conn } = await testDuckDb());
  project = mkdtempSync(join(tmpdir(), 'lakeforge-project-'));
  mkdirSync(join(project, 'steps'));
  for (const f of readdirSync(FIXTURES)) copyFileSync(join(FIXTURES, f), join(project, 'steps', f));
  deps = {
    projectRoot: project, home: tl.home, defaultLake: tl.uri, duckdb,
    python: join(loadConfig().home, 'venv', 'bin', 'python'), trainerDir: join(REPO, 'trainer'),
    slots: new SlotAllocator([CPU_SLOT]), env: { OMP_NUM_THREADS: '1' }, graceMs: 10_000, heartbeatEveryMs: 100,
  };
  await generateTextClassification({ lake: tl.lake, dataset: 'news', rows: 200, seed: 5 });
  const acts = createEtlActivities({ duckdb, home: tl.home, defaultLake: tl.uri });
  clean = await acts.clean({ lake: tl.uri, dataset: 'news', step: 'clean', runId: 'test', inputs: {}, params: TEXT_CLEAN_PARAMS as never });
  cleanRows = await readRows(conn, tl.lake, tl.lake.relative(clean.uri));
}, 120_000);

afterAll(async () => {
  conn?.closeSync();
  duckdb?.closeSync();
  await tl?.cleanup();
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('python steps through the kernel', () => {
  let first: StepResult;

  it('publishes the work dir with a manifest: rows, schema, metrics, the script', async () => {
    first = await runPythonStep(wordCounts, deps, inputOf('words', { min_words: 8 }));
    const expected = cleanRows.filter((r) => String(r.text).trim().split(/\s+/).length >= 8).length;
    expect(expected).toBeGreaterThan(0);
    expect(expected).toBeLessThan(cleanRows.length);
    expect(first.cached).toBe(false);
    expect(first.uri).toBe(tl.lake.uri(`words/news/${first.version}`));
    expect(first.rows).toBe(expected);
    const m = (await readManifest(tl.lake, `words/news/${first.version}`))!;
    expect(m.files.map((f) => f.path)).toEqual(['part-0.parquet']);
    expect(m.inputs).toEqual([clean.version]);
    expect(m.schema.map((c) => c.name)).toContain('words');
    expect(m).toMatchObject({ kind: 'python', script: 'steps/word_counts.py', metrics: { rows_in: cleanRows.length, rows_out: expected, attempts: 1 } });
    expect(first.metrics).toMatchObject({ rows_out: expected });
    const rows = await readRows(conn, tl.lake, `words/news/${first.version}`);
    expect(rows.every((r) => Number(r.words) >= 8)).toBe(true);
  }, 60_000);

  it('is a cache hit the second time, and a new version for new params', async () => {
    const again = await runPythonStep(wordCounts, deps, inputOf('words', { min_words: 8 }));
    expect(again).toMatchObject({ cached: true, version: first.version, uri: first.uri });
    const other = await runPythonStep(wordCounts, deps, inputOf('words', { min_words: 3 }));
    expect(other.version).not.toBe(first.version);
  }, 60_000);

  it('editing the script gives a new version; so does a declared version', async () => {
    const step = { ...wordCounts, name: 'word-counts-edit', script: 'steps/word_counts_edit.py' };
    copyFileSync(join(project, 'steps', 'word_counts.py'), join(project, 'steps', 'word_counts_edit.py'));
    const a = await runPythonStep(step, deps, inputOf('edit', { min_words: 8 }));
    appendFileSync(join(project, 'steps', 'word_counts_edit.py'), '\n# an edit that changes nothing it computes\n');
    const b = await runPythonStep(step, deps, inputOf('edit', { min_words: 8 }));
    expect(b.cached).toBe(false);
    expect(b.version).not.toBe(a.version);
    const c = await runPythonStep({ ...step, version: '2' }, deps, inputOf('edit', { min_words: 8 }));
    expect(c.version).not.toBe(b.version);
    expect((await runPythonStep({ ...step, version: '2' }, deps, inputOf('edit', { min_words: 8 }))).cached).toBe(true);
  }, 90_000);

  it('a step killed mid-run (SIGKILL of its group) resumes from its lake checkpoint as attempt 2', async () => {
    const params = { steps: 30, checkpoint_every: 5, sleep_s: 0.1 };
    const input = inputOf('count', params, 'run-kill');
    const env1 = new MockActivityEnvironment({ attempt: 1, heartbeatTimeoutMs: 30_000 });
    let killed: { pid: number; step: number } | null = null;
    env1.on('heartbeat', (d: PythonHeartbeat) => {
      if (!killed && d.pid && typeof d.checkpoint_step === 'number' && d.checkpoint_step >= 10) {
        killed = { pid: d.pid, step: d.checkpoint_step };
        process.kill(-d.pid, 'SIGKILL');
      }
    });
    const f = await failureOf(env1.run(runPythonStep, counter, deps, input));
    expect(killed).not.toBeNull();
    expect(f.type).toBe('TrainerCrashed');
    expect(f.nonRetryable).toBe(false);
    expect(f.message).toContain('steps/counting_trainer.py');
    expect(f.message).toContain('SIGKILL');
    expect(await publishedUnder('count')).toEqual([]);
    const lakeCks = (await tl.lake.list('checkpoints/run-kill/count')).filter((o) => o.path.endsWith('_checkpoint.json'));
    expect(lakeCks.length).toBeGreaterThan(0);
    // Attempt 2 lands on another worker: nothing of attempt 1 on its disk.
    rmSync(join(tl.home, 'runs'), { recursive: true, force: true });

    const env2 = new MockActivityEnvironment({ attempt: 2, heartbeatTimeoutMs: 30_000 });
    const resumedAt: number[] = [];
    env2.on('heartbeat', (d: PythonHeartbeat) => { if (typeof d.resumed_from_step === 'number') resumedAt.push(d.resumed_from_step); });
    const r = (await env2.run(runPythonStep, counter, deps, input)) as StepResult;
    const m = (await readManifest(tl.lake, tl.lake.relative(r.uri)))!;
    const rows = cleanRows.length;
    expect(m.metrics).toMatchObject({ steps: 30, attempts: 2, total: rows * ((30 * 31) / 2), cuda_visible: 0 });
    const resumed = (m as unknown as { resumedFrom: { step: number; source: string } }).resumedFrom;
    expect(resumed.source).toBe('lake');
    expect(resumed.step).toBeGreaterThanOrEqual(killed!.step);
    expect(resumed.step % 5).toBe(0);
    expect(resumedAt[0]).toBe(resumed.step);
    expect(m.metrics).toMatchObject({ resumed_from_step: resumed.step });
  }, 120_000);

  it('exit 2 is a non-retryable BadInput naming the script, and nothing is published', async () => {
    const f = await failureOf(runPythonStep(misbehaving, deps, inputOf('bad', { mode: 'bad_input' })));
    expect(f.type).toBe('BadInput');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('steps/misbehaving.py');
    expect(f.message).toContain('params.mode: bad_input asks for a bad input');
    expect(await publishedUnder('bad')).toEqual([]);
    const crash = await failureOf(runPythonStep(misbehaving, deps, inputOf('bad', { mode: 'crash' })));
    expect(crash).toMatchObject({ type: 'TrainerCrashed', nonRetryable: false });
    expect(crash.message).toContain('RuntimeError: boom');
  }, 60_000);

  it('a script that writes outside its work dir, or links out of it, is refused', async () => {
    const out = await failureOf(runPythonStep(misbehaving, deps, inputOf('escape', { mode: 'outside' })));
    expect(out).toMatchObject({ type: 'BadInput', nonRetryable: true });
    expect(out.message).toContain(tl.lake.uri('escape/news/stray.txt'));
    expect(out.message).toContain('steps/misbehaving.py');
    const link = await failureOf(runPythonStep(misbehaving, deps, inputOf('escape', { mode: 'symlink' })));
    expect(link.type).toBe('BadInput');
    expect(link.message).toMatch(/symlink .*leak\.json/);
    const empty = await failureOf(runPythonStep(misbehaving, deps, inputOf('escape', { mode: 'nothing' })));
    expect(empty.message).toContain('wrote no files');
    expect(await publishedUnder('escape')).toEqual([]);
    // The same script behaving publishes.
    expect((await runPythonStep(misbehaving, deps, inputOf('escape', { mode: 'ok' }))).cached).toBe(false);
  }, 60_000);

  it('a script outside the project, or a symlink out of it, is an InvalidPipeline naming it', async () => {
    const outside = await failureOf(runPythonStep({ ...misbehaving, script: '../elsewhere.py' }, deps, inputOf('x', { mode: 'ok' })));
    expect(outside).toMatchObject({ type: 'InvalidPipeline' });
    expect(outside.message).toContain('../elsewhere.py');
    symlinkSync(join(FIXTURES, 'misbehaving.py'), join(project, 'steps', 'linked.py'));
    const linked = await failureOf(runPythonStep({ ...misbehaving, script: 'steps/linked.py' }, deps, inputOf('x', { mode: 'ok' })));
    expect(linked.message).toContain('outside the project');
    const params = await failureOf(runPythonStep(misbehaving, deps, inputOf('x', { mode: 'nope' })));
    expect(params.type).toBe('InvalidPipeline');
  });
});

describe('the python step interpreter', () => {
  it('is deps.python, else the project venv, else LAKEFORGE_PYTHON, else the lakeforge venv', () => {
    const base = { projectRoot: '/p', home: '/h' };
    expect(resolvePython({ ...base, python: '/x/python', venv: '.venv' }, {})).toBe('/x/python');
    expect(resolvePython({ ...base, venv: '.venv' }, { LAKEFORGE_PYTHON: '/y/python' })).toBe('/p/.venv/bin/python');
    expect(resolvePython({ ...base, venv: '/abs/venv' }, {})).toBe('/abs/venv/bin/python');
    expect(resolvePython(base, { LAKEFORGE_PYTHON: '/y/python' })).toBe('/y/python');
    expect(resolvePython(base, {})).toBe('/h/venv/bin/python');
  });
});
