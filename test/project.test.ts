// lakeforge as an installed package (issue 11): pack this repository compiled (infra/pack.mjs), `lakeforge init` a project in a temporary
// directory outside it, `npm install` the tarball there, and drive that project only through its own installed
// `lakeforge` bin: validate, a worker started from the project (its own process group, killed at the end) against
// the run's dev server, a clean → sql → features → train → evaluate run into the project's own lake, a second run
// that is all cache hits, and an edited SQL file that gives new versions to that step and its dependents only.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { lakeforgeHome } from '../activities/common/config.js';
import { openLake, readManifest } from '../activities/lake/index.js';
import { uniqueTaskQueue } from './helpers/temporal.js';
import { pack } from '../infra/pack.mjs';
import { exec, killGroup, show } from './helpers/exec.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));

let tmp: string;
let project: string;
let env: NodeJS.ProcessEnv;
let worker: ChildProcess | undefined;
let workerLog = '';
const children = new Set<ChildProcess>();

/** A program in the project's environment (the test's `env` unless given), tracked for the afterAll. */
const run = (cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }) => exec(cmd, args, { env, ...opts, children });

/** The project's own installed bin (node_modules/.bin/lakeforge → node_modules/lakeforge/cli/bin.js). */
const lf = (args: string[], timeoutMs?: number) => run(process.execPath, [join(project, 'node_modules', '.bin', 'lakeforge'), ...args], { cwd: project, timeoutMs });


async function until<T>(what: string, fn: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** `run --wait` prints `  <step>: <uri>[ (cached)]` per step. */
function stepOutputs(stdout: string): Record<string, { uri: string; cached: boolean }> {
  const out: Record<string, { uri: string; cached: boolean }> = {};
  for (const m of stdout.matchAll(/^ {2}([a-z0-9_-]+): ((?:file|gs):\/\/\S+)( \(cached\))?$/gm)) out[m[1]] = { uri: m[2], cached: !!m[3] };
  return out;
}

const STEPS = ['clean', 'long-texts', 'with-length', 'label-share', 'features', 'train', 'evaluate'];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'lakeforge-project-'));
  // The tarball, packed once for this run, outside the repository.
  // Compiled, as it is published (infra/pack.mjs): the project's CLI runs lakeforge's .js on plain node.
  const tarball = join(tmp, pack({ destination: tmp, log: () => {} }));
  expect(existsSync(tarball)).toBe(true);

  // init with the repository's own CLI (nothing is installed in the new directory yet).
  project = join(tmp, 'my-project');
  const init = await run(process.execPath, [join(REPO, 'cli', 'bin.js'), 'init', project, '--lakeforge', tarball], { cwd: tmp, env: process.env });
  expect(init.code, show(init)).toBe(0);
  const install = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: project, env: process.env, timeoutMs: 170_000 });
  expect(install.code, show(install)).toBe(0);

  // The project's own lake (lakeforge.config.ts: `.lakeforge/lake`); the trainer venv and tools of this checkout.
  env = {
    ...process.env,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: 'default',
    LAKEFORGE_HOME: lakeforgeHome(),
    LAKEFORGE_ETL_TASK_QUEUE: uniqueTaskQueue('project-etl'),
    LAKEFORGE_GPU_TASK_QUEUE: uniqueTaskQueue('project-gpu'),
    LAKEFORGE_GPUS: 'cpu',
    LAKEFORGE_DUCKDB_THREADS: '1',
    OMP_NUM_THREADS: '1',
    NO_COLOR: '1',
  };
  for (const k of ['LAKEFORGE_LAKE', 'LAKEFORGE_PROJECT_DIR', 'LAKEFORGE_DEBUG']) delete env[k];
}, 180_000);

afterAll(async () => {
  if (worker && worker.exitCode === null && worker.signalCode === null) {
    killGroup(worker, 'SIGTERM');
    await until('the worker to exit', () => (worker!.exitCode !== null || worker!.signalCode !== null ? true : undefined), 30_000).catch(() => undefined);
  }
  for (const c of [...children]) killGroup(c);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}, 60_000);

describe('a lakeforge project outside the repository, from the packed tarball', () => {
  it('scaffolds a project and installs lakeforge from the tarball as a package', () => {
    for (const f of ['lakeforge.config.ts', 'pipelines/example.yaml', 'sql/keep_long_texts.sql', 'steps/add-text-length.ts', 'steps/label_share.py', 'README.md', '.gitignore', 'package.json']) {
      expect(existsSync(join(project, f)), f).toBe(true);
    }
    const installed = join(project, 'node_modules', 'lakeforge');
    expect(relative(REPO, installed).startsWith('..')).toBe(true);
    // What ships: the trainer and the built-in SQL inside the package; no tests, benchmarks or local state.
    expect(existsSync(join(installed, 'trainer', 'lakeforge_trainer', '__main__.py'))).toBe(true);
    expect(existsSync(join(installed, 'trainer', 'pyproject.toml'))).toBe(true);
    expect(readdirSync(join(installed, 'steps', 'clean', 'sql')).some((f) => f.endsWith('.sql'))).toBe(true);
    for (const absent of ['test', 'bench', '.lakeforge', 'node_modules/.lakeforge-stamp']) expect(existsSync(join(installed, absent)), absent).toBe(false);
    const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    expect(pkg.private).toBeUndefined();
    expect(Object.keys(pkg.exports)).toEqual(expect.arrayContaining(['.', './worker']));
  });

  it('refuses to init a non-empty directory without --force', async () => {
    const r = await run(process.execPath, [join(REPO, 'cli', 'bin.js'), 'init', project], { cwd: tmp, env: process.env });
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/is not empty .*--force/);
  });

  it('validates the example pipeline, resolving uses: sql against the project, and refuses SQL outside it', async () => {
    const ok = await lf(['validate', 'pipelines/example.yaml']);
    expect(ok.code, show(ok)).toBe(0);
    expect(ok.stdout).toContain('pipeline "example" is valid — 7 step(s)');
    expect(ok.stdout).toMatch(/with-length \(add-text-length\)/);
    expect(ok.stdout).toMatch(/label-share \(label-share\)/);
    // A symlink under sql/ that leads out of the project is refused, naming the field and the file.
    const outside = join(tmp, 'outside.sql');
    writeFileSync(outside, 'SELECT * FROM input');
    symlinkSync(outside, join(project, 'sql', 'escape.sql'));
    const spec = readFileSync(join(project, 'pipelines', 'example.yaml'), 'utf8').replace('file: sql/keep_long_texts.sql', 'file: sql/escape.sql');
    writeFileSync(join(project, 'pipelines', 'escape.yaml'), spec);
    const bad = await lf(['validate', 'pipelines/escape.yaml']);
    expect(bad.code, show(bad)).toBe(2);
    expect(bad.stderr).toMatch(/with\.file: "sql\/escape\.sql" resolves outside .*my-project\/sql/);
  });

  it('runs the pipeline on a worker started from the project, caches a rerun, and re-versions only what an edited SQL file feeds', async () => {
    const gen = await lf(['generate', 'news', '--rows', '600', '--seed', '5']);
    expect(gen.code, show(gen)).toBe(0);
    const lakeDir = join(project, '.lakeforge', 'lake');
    expect(gen.stdout).toContain(pathToFileURL(join(lakeDir, 'raw', 'news')).href);

    worker = spawn(process.execPath, [join(project, 'node_modules', '.bin', 'lakeforge'), 'worker'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.add(worker);
    worker.stdout!.on('data', (d) => { workerLog += d; });
    worker.stderr!.on('data', (d) => { workerLog += d; });
    await until('the worker to be ready', () => {
      if (/worker ready/.test(workerLog)) return true;
      if (worker!.exitCode !== null) throw new Error(`worker exited: ${workerLog}`);
      return undefined;
    }, 120_000);
    expect(workerLog).toContain(`for project ${project}`);

    const first = await lf(['run', 'pipelines/example.yaml', '--wait', '--run-key', 'first'], 170_000);
    expect(first.code, `${show(first)}\nworker:\n${workerLog}`).toBe(0);
    const r1 = stepOutputs(first.stdout);
    expect(Object.keys(r1).sort()).toEqual([...STEPS].sort());
    const lake = openLake(pathToFileURL(lakeDir).href);
    for (const s of STEPS) {
      expect(r1[s].cached, s).toBe(false);
      // Published into the project's own lake, each with its manifest.
      expect(r1[s].uri.startsWith(pathToFileURL(lakeDir).href), r1[s].uri).toBe(true);
      const m = await readManifest(lake, lake.relative(r1[s].uri));
      expect(m, `${s} manifest`).not.toBeNull();
    }

    const second = await lf(['run', 'pipelines/example.yaml', '--wait', '--run-key', 'second'], 120_000);
    expect(second.code, show(second)).toBe(0);
    const r2 = stepOutputs(second.stdout);
    for (const s of STEPS) expect(r2[s], s).toEqual({ uri: r1[s].uri, cached: true });

    // The edit: a stricter filter. clean is unchanged; the sql step and everything downstream get new versions.
    const sqlFile = join(project, 'sql', 'keep_long_texts.sql');
    writeFileSync(sqlFile, readFileSync(sqlFile, 'utf8').replace('>= $min_words', '> $min_words'));
    const third = await lf(['run', 'pipelines/example.yaml', '--wait', '--run-key', 'third'], 170_000);
    expect(third.code, show(third)).toBe(0);
    const r3 = stepOutputs(third.stdout);
    expect(r3.clean).toEqual({ uri: r1.clean.uri, cached: true });
    for (const s of ['long-texts', 'with-length', 'label-share', 'features', 'train', 'evaluate']) {
      expect(r3[s].cached, s).toBe(false);
      expect(r3[s].uri, s).not.toBe(r1[s].uri);
    }
  });
});
