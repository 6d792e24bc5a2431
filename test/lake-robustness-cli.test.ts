// The CLI through a Temporal server restart (issue 13): `lakeforge run --wait` keeps watching while its own dev
// server (SQLite-backed, so the run survives) is SIGKILLed and started again on the same port, says it cannot reach
// the server, and reports the run's real outcome; `status` and `list` then answer. Real server, worker and CLI.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureGoTool } from '../infra/tools.mjs';
import { freePort, spawnDevServer } from '../infra/temporal/server.mjs';
import { generateTextClassification } from '../examples/generate-lib.js';
import { openLake } from '../activities/lake/index.js';

let tmp: string;
let env: NodeJS.ProcessEnv;
let server: ChildProcess;
let temporalBin: string;
let port: number;
const children = new Set<ChildProcess>();
const startServer = () => spawnDevServer({ temporalBin, port, uiPort: 0, dbFile: join(tmp, 'temporal.db'), logFile: join(tmp, 'server.log') });
const killGroup = (c: ChildProcess | undefined, sig: NodeJS.Signals) => { try { process.kill(-c!.pid!, sig); } catch { /* gone */ } };

function lf(args: string[]): { child: ChildProcess; out: { stdout: string; stderr: string }; done: Promise<number | null> } {
  const child = spawn(process.execPath, ['cli/bin.js', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => { out.stdout += d; });
  child.stderr!.on('data', (d) => { out.stderr += d; });
  return { child, out, done: new Promise((r) => child.on('close', r)) };
}

async function until(what: string, fn: () => boolean, ms: number) {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  temporalBin = await ensureGoTool('temporal');
  port = await freePort();
  tmp = mkdtempSync(join(tmpdir(), 'lakeforge-restart-'));
  server = await startServer();
  const lake = pathToFileURL(join(tmp, 'lake')).href;
  env = {
    ...process.env, TEMPORAL_ADDRESS: `127.0.0.1:${port}`, TEMPORAL_NAMESPACE: 'default', LAKEFORGE_LAKE: lake, LAKEFORGE_HOME: join(tmp, 'home'),
    LAKEFORGE_DUCKDB_THREADS: '1', NO_COLOR: '1',
  };
  delete env.LAKEFORGE_DEBUG;
  await generateTextClassification({ lake: openLake(lake, { home: join(tmp, 'home') }), dataset: 'news', rows: 20000, seed: 5 });
  writeFileSync(join(tmp, 'news.yaml'), readFileSync('test/fixtures/cli/news-etl.yaml', 'utf8').replace(/^name: cli-news$/m, 'name: restart-news'));
}, 180_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  killGroup(server, 'SIGKILL');
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

it('run --wait, status and list ride out a server restart and report the real outcome', async () => {
  const worker = lf(['worker', '--queues', 'etl']);
  await until('the worker', () => /worker ready/.test(worker.out.stdout + worker.out.stderr), 170_000);
  const run = lf(['run', join(tmp, 'news.yaml'), '--wait', '--run-key', 'r1']);
  await until('the run to start', () => /started lakeforge\/restart-news\/r1/.test(run.out.stdout), 60_000);
  // The server goes away for 8 s while the run is being watched, then comes back with its state.
  killGroup(server, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 8_000));
  server = await startServer();
  const code = await run.done;
  expect(run.out.stderr).toMatch(new RegExp(`cannot reach the server at 127\\.0\\.0\\.1:${port}, retrying`));
  expect(run.out.stderr).not.toMatch(/Failed to get Workflow execution history|waiting for a worker/);
  expect(run.out.stdout).toContain('✔ lakeforge/restart-news/r1 succeeded');
  expect(code).toBe(0);
  const status = lf(['status', 'lakeforge/restart-news/r1']);
  expect(await status.done).toBe(0);
  expect(status.out.stdout).toMatch(/COMPLETED/);
  const list = lf(['list', '--pipeline', 'restart-news']);
  expect(await list.done).toBe(0);
  expect(list.out.stdout).toContain('lakeforge/restart-news/r1');
  worker.child.kill('SIGTERM');
}, 300_000);
