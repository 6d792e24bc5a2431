// lakeforge as a compiled package (issue 25): infra/pack.mjs packs compiled ESM with .d.ts; the tarball is installed
// into a plain Node ESM project, which runs an ETL worker (the workflow bundle built from the shipped .js) and a
// pipeline through the SDK with plain `node`; and into a TypeScript app compiled with tsc against the shipped
// declarations, which re-runs it fully cached. Real dev server, DuckDB, lake. Node 20 cannot load .ts, so a run
// that works proves lakeforge's own code needed no tsx.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pack } from '../infra/pack.mjs';
import { generateTextClassification } from '../examples/generate-lib.js';
import { openLake, readManifest } from '../activities/lake/index.js';
import { uniqueTaskQueue } from './helpers/temporal.js';
import { exec, show } from './helpers/exec.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
let tmp: string;
let app: string;
let env: NodeJS.ProcessEnv;
let lake: string;

// The service: what a backend would do with the README's "From TypeScript" example, in plain JavaScript.
const SERVICE = `
import { connectClient, startPipeline, getProgress, loadPipelineFile } from 'lakeforge';
import { createEtlWorker } from 'lakeforge/worker';
const [file, runKey] = process.argv.slice(2);
const { worker, close } = await createEtlWorker();
const client = await connectClient();
const plan = loadPipelineFile(file);
const out = await worker.runUntil(async () => {
  const handle = await startPipeline(client, plan.spec, { runKey, queues: { etl: process.env.LAKEFORGE_ETL_TASK_QUEUE, gpu: process.env.LAKEFORGE_GPU_TASK_QUEUE } });
  const result = await handle.result();
  return { result, progress: await getProgress(handle) };
});
await client.connection.close();
await close();
console.log(JSON.stringify({ resolved: import.meta.resolve('lakeforge'), ...out }));
`;

// The same from a TypeScript app compiled with tsc: the declarations type the SDK's results.
const APP = `
import { connectClient, startPipeline, loadPipelineFile, type StepResult, type PipelineProgress } from 'lakeforge';
import { createEtlWorker } from 'lakeforge/worker';
const [file, runKey] = process.argv.slice(2);
const { worker, close } = await createEtlWorker();
const client = await connectClient();
const steps: Record<string, StepResult> = await worker.runUntil(async () => {
  const handle = await startPipeline(client, loadPipelineFile(file).spec, { runKey, queues: { etl: process.env.LAKEFORGE_ETL_TASK_QUEUE!, gpu: process.env.LAKEFORGE_GPU_TASK_QUEUE! } });
  const progress: PipelineProgress = await handle.query('progress');
  void progress;
  return (await handle.result()).steps;
});
await client.connection.close();
await close();
console.log(JSON.stringify({ steps }));
`;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'lakeforge-package-'));
  const tarball = join(tmp, pack({ destination: tmp, log: () => {} }));
  expect(existsSync(tarball)).toBe(true);
  app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'plain-service', private: true, type: 'module' }));
  const install = await exec('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: app, timeoutMs: 170_000 });
  expect(install.code, show(install)).toBe(0);
  writeFileSync(join(app, 'service.mjs'), SERVICE);
  writeFileSync(join(app, 'app.ts'), APP);
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'dist', skipLibCheck: true,
      types: ['node'], typeRoots: [join(REPO, 'node_modules', '@types')],
    },
    files: ['app.ts'],
  }));
  cpSync(join(REPO, 'test', 'fixtures', 'cli', 'news-etl.yaml'), join(app, 'news-etl.yaml'));
  const home = join(tmp, 'home');
  lake = pathToFileURL(join(tmp, 'lake')).href;
  await generateTextClassification({ lake: openLake(lake, { home }), dataset: 'news', rows: 300, seed: 5 });
  env = {
    ...process.env,
    TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_NAMESPACE: 'default',
    LAKEFORGE_HOME: home, LAKEFORGE_LAKE: lake,
    LAKEFORGE_ETL_TASK_QUEUE: uniqueTaskQueue('pkg-etl'), LAKEFORGE_GPU_TASK_QUEUE: uniqueTaskQueue('pkg-gpu'),
    LAKEFORGE_METRICS_PORT: '',
  };
  // Nothing from this checkout's tsx or loaders may leak into the child processes.
  for (const k of ['NODE_OPTIONS', 'TSX_TSCONFIG_PATH']) delete env[k];
}, 300_000);

afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

describe('the installed package, from plain Node', () => {
  it('ships compiled JavaScript with declarations and source maps', () => {
    const pkg = join(app, 'node_modules', 'lakeforge');
    for (const f of ['sdk/index.js', 'sdk/index.d.ts', 'sdk/index.js.map', 'sdk/worker.js', 'workflows/index.js', 'cli/main.js']) expect(existsSync(join(pkg, f)), f).toBe(true);
  });

  it('a plain node ESM service runs a worker and a pipeline through the SDK', async () => {
    const r = await exec(process.execPath, ['service.mjs', 'news-etl.yaml', 'plain'], { cwd: app, env, timeoutMs: 180_000 });
    expect(r.code, show(r)).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.resolved).toMatch(/node_modules\/lakeforge\/sdk\/index\.js$/);
    expect(out.result.status).toBe('succeeded');
    expect(out.progress.steps.map((s: { state: string }) => s.state)).toEqual(['succeeded', 'succeeded']);
    const clean = out.result.steps.clean;
    expect(clean.rows).toBeGreaterThan(0);
    // What the SDK returned is what the lake holds.
    const storage = openLake(lake, { home: env.LAKEFORGE_HOME });
    const manifest = await readManifest(storage, storage.relative(clean.uri));
    expect(manifest?.rows).toBe(clean.rows);
    expect(manifest?.version).toBe(clean.version);
  }, 200_000);

  it('a TypeScript app compiled with tsc runs the same pipeline, fully cached', async () => {
    const tsc = await exec(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: app, env });
    expect(tsc.code, show(tsc)).toBe(0);
    const r = await exec(process.execPath, ['dist/app.js', 'news-etl.yaml', 'compiled'], { cwd: app, env, timeoutMs: 180_000 });
    expect(r.code, show(r)).toBe(0);
    const { steps } = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(Object.keys(steps)).toEqual(['clean', 'features']);
    expect(Object.values(steps).every((s) => (s as { cached: boolean }).cached)).toBe(true);
  }, 200_000);

  it('its CLI runs compiled, on plain node', async () => {
    const r = await exec(process.execPath, [join(app, 'node_modules', '.bin', 'lakeforge'), 'validate', 'news-etl.yaml'], { cwd: app, env });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('is valid');
  });
});
