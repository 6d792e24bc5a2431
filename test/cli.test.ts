// The `lakeforge` CLI through its real entry point (`node cli/bin.js …`, spawned): exit codes and output of
// validate, run --wait, status, list, cancel, server status and schedules, against the run's dev server, with a
// spawned `lakeforge worker` on task queues of its own and a temporary lake.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse, stringify } from 'yaml';
import { openLake } from '../activities/lake/index.js';
import { generateTextClassification } from '../examples/generate-lib.js';
import { LakeforgePipeline, LakeforgeStatus } from '../contracts/search-attributes.js';
import { connectTestServer, uniqueTaskQueue } from './helpers/temporal.js';

interface Result { code: number | null; stdout: string; stderr: string }

const suffix = Math.random().toString(36).slice(2, 8);
const pipeline = `cli-news-${suffix}`;
let tmp: string;
let env: NodeJS.ProcessEnv;
let specFile: string;
let trainSpecFile: string;
let worker: ChildProcess | undefined;
let workerLog = '';
let server: Awaited<ReturnType<typeof connectTestServer>>;
const children = new Set<ChildProcess>();

function lf(args: string[], extraEnv: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['cli/bin.js', ...args], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

const noStack = (r: Result) => expect(`${r.stdout}${r.stderr}`).not.toMatch(/\n\s+at .+:\d+:\d+/);

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  server = await connectTestServer();
  tmp = mkdtempSync(join(tmpdir(), 'lakeforge-cli-'));
  const lake = pathToFileURL(join(tmp, 'lake')).href;
  env = {
    ...process.env,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: 'default',
    LAKEFORGE_UI_URL: inject('temporalUiUrl'),
    LAKEFORGE_LAKE: lake,
    LAKEFORGE_HOME: join(tmp, 'home'),
    LAKEFORGE_ETL_TASK_QUEUE: uniqueTaskQueue('cli-etl'),
    LAKEFORGE_GPU_TASK_QUEUE: uniqueTaskQueue('cli-gpu'),
    LAKEFORGE_DUCKDB_THREADS: '1',
    NO_COLOR: '1',
  };
  delete env.LAKEFORGE_DEBUG;
  await generateTextClassification({ lake: openLake(lake, { home: join(tmp, 'home') }), dataset: 'news', rows: 400, seed: 3 });
  const etl = readFileSync('test/fixtures/cli/news-etl.yaml', 'utf8').replace(/^name: cli-news$/m, `name: ${pipeline}`);
  specFile = join(tmp, 'news-etl.yaml');
  writeFileSync(specFile, etl);
  // Its train step goes to a GPU queue nobody polls (see the cancel test): the run stays running until cancelled.
  trainSpecFile = join(tmp, 'news-train.yaml');
  const trainSpec = parse(etl);
  trainSpec.name = `${pipeline}-train`;
  const train = parse(readFileSync('examples/pipelines/news.yaml', 'utf8')).steps.find((st: { uses: string }) => st.uses === 'train');
  trainSpec.steps.push({ ...train, needs: ['features'] });
  writeFileSync(trainSpecFile, stringify(trainSpec));

  worker = spawn(process.execPath, ['cli/bin.js', 'worker', '--queues', 'etl,gpu'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(worker);
  worker.stdout!.on('data', (d) => { workerLog += d; });
  worker.stderr!.on('data', (d) => { workerLog += d; });
  await until('the worker to be ready', async () => (/worker ready/.test(workerLog) ? true : worker!.exitCode !== null ? (() => { throw new Error(`worker exited: ${workerLog}`); })() : undefined), 170_000);
}, 180_000);

afterAll(async () => {
  // Every child goes: the worker gets SIGTERM first (graceful), anything left is killed.
  if (worker && worker.exitCode === null) {
    worker.kill('SIGTERM');
    await until('the worker to exit', async () => (worker!.exitCode !== null || worker!.signalCode !== null ? true : undefined), 30_000).catch(() => undefined);
  }
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('lakeforge CLI (spawned)', () => {
  it('validates specs: 0 for a good one, 2 naming the field and line for a bad one; usage errors exit 2', async () => {
    // Few spawns: each costs a Node start plus tsx on a two-core machine.
    const [good, bad, badStatus, help, badPriority] = await Promise.all([
      lf(['validate', specFile]),
      lf(['validate', 'test/fixtures/cli/bad-needs.yaml']),
      lf(['list', '--status', 'bogus']),
      lf(['--help']),
      lf(['run', specFile, '--priority', '9']),
    ]);
    expect(good.code).toBe(0);
    expect(good.stdout).toContain(`pipeline "${pipeline}" is valid`);
    expect(good.stdout).toContain('features (features) ← clean');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('bad-needs.yaml:12:13 steps[1].needs[0]: unknown step "cleen"');
    noStack(bad);
    expect(badStatus.code).toBe(2);
    expect(badStatus.stderr).toContain('Allowed choices are running, succeeded, failed, cancelled');
    expect(help.code).toBe(0);
    expect(badPriority.code).toBe(2);
    expect(badPriority.stderr).toContain('--priority must be an integer from 1 (most urgent) to 5 (lowest), got "9"');
    for (const cmd of ['validate', 'run', 'status', 'list', 'cancel', 'schedule', 'server', 'worker']) expect(help.stdout).toContain(cmd);
  });

  it('server status, unknown ids, an unreachable server: one clear line, right exit code', async () => {
    const [status, unknown, unreachable] = await Promise.all([
      lf(['server', 'status']),
      lf(['status', 'lakeforge/nope/nope']),
      lf(['list'], { TEMPORAL_ADDRESS: '127.0.0.1:1' }),
    ]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`Temporal server at ${inject('temporalAddress')}: running`);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe('error: no run with workflow id "lakeforge/nope/nope"');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^error: cannot reach the Temporal server at 127\.0\.0\.1:1 .*\n\s+cause: /);
    for (const r of [unknown, unreachable]) noStack(r);
  });

  it('a half-set TLS pair is a usage error naming the variable; cluster status without a cluster exits 1', async () => {
    const [tls, cluster] = await Promise.all([
      lf(['list'], { TEMPORAL_TLS_CERT: '/nonexistent/client.pem' }),
      lf(['cluster', 'status'], { LAKEFORGE_CLUSTER_DIR: '/nonexistent/lakeforge-cluster' }),
    ]);
    expect(tls.code).toBe(2);
    expect(tls.stderr.trim()).toBe('error: TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: only TEMPORAL_TLS_CERT is set');
    expect(cluster.code).toBe(1);
    expect(cluster.stdout).toContain('no cluster in /nonexistent/lakeforge-cluster');
    for (const r of [tls, cluster]) noStack(r);
  });

  let runId: string;
  it('run --wait shows progress and ends 0 with the Web UI link; status and list find the run', async () => {
    const run = await lf(['run', specFile, '--wait']);
    expect(run.code, `${run.stdout}\n${run.stderr}\n--- worker ---\n${workerLog.slice(-3000)}`).toBe(0);
    runId = /started (\S+)/.exec(run.stdout)![1];
    expect(runId).toMatch(new RegExp(`^lakeforge/${pipeline}/\\d{8}T\\d{6}Z-[0-9a-f]{6}$`));
    expect(run.stdout).toContain(`Web UI: ${inject('temporalUiUrl')}/namespaces/default/workflows/${encodeURIComponent(runId)}`);
    // Not a TTY: plain progress lines, one per change.
    expect(run.stdout).toMatch(/\] clean \(clean\): (succeeded|cached) in [\d.]+s — \d+ rows/);
    expect(run.stdout).toMatch(/\] features \(features\): (succeeded|cached)/);
    expect(run.stdout).toContain(`pipeline ${pipeline} succeeded: 2/2 steps done`);
    expect(run.stdout).toContain(`✔ ${runId} succeeded`);
    expect(run.stdout).not.toContain('\x1b[');

    const [status, list] = await Promise.all([
      lf(['status', runId]),
      lf(['list', '--pipeline', pipeline, '--status', 'succeeded']),
    ]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`${runId}  COMPLETED (succeeded)`);
    expect(status.stdout).toMatch(/✔ clean\s+clean\s+succeeded/);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${runId.replace(/[/.]/g, '\\$&')}\\s+succeeded\\s+${pipeline}`));
  });

  it('cancel stops a running run through the cancel update; status then exits 1; a second cancel exits 2', async () => {
    // The train step waits on a GPU queue no worker polls: the run is running, at train, until cancelled.
    const run = await lf(['run', trainSpecFile], { LAKEFORGE_GPU_TASK_QUEUE: uniqueTaskQueue('cli-nobody') });
    expect(run.code, run.stderr).toBe(0);
    const id = /started (\S+)/.exec(run.stdout)![1];
    expect(run.stdout).toContain(`lakeforge status ${id}`);
    const handle = server.client.workflow.getHandle(id);
    await until('the train step to start', async () => {
      const p = await handle.query<{ steps: { name: string; state: string }[] }>('progress').catch(() => undefined);
      return p?.steps.find((s) => s.name === 'train')?.state === 'running' ? true : undefined;
    });
    const cancel = await lf(['cancel', id, '--reason', 'cli test']);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toContain(`cancelling ${id}: cli test`);
    await expect(handle.result()).rejects.toThrow();
    const [status, again] = await Promise.all([lf(['status', id]), lf(['cancel', id])]);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/train\s+train\s+cancelled/);
    expect(status.stdout).toContain('failure:');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`run ${id} is not running`);
    expect((await handle.describe()).typedSearchAttributes.get(LakeforgeStatus)).toBe('cancelled');
  });

  it('schedule create → trigger → a run with the schedule\'s search attributes → pause → describe → delete', async () => {
    const id = `cli-sched-${suffix}`;
    const create = await lf(['schedule', 'create', specFile, '--every', '1h', '--id', id]);
    expect(create.code, create.stderr).toBe(0);
    expect(create.stdout).toContain(`created schedule ${id} for pipeline ${pipeline}: every 1h, overlap SKIP`);
    expect(create.stdout).toContain(`runs get workflow ids lakeforge/${pipeline}/sched-${id}-<scheduled time>`);

    const trigger = await lf(['schedule', 'trigger', id, '--json']);
    expect(trigger.code, trigger.stderr).toBe(0);
    const runId: string = JSON.parse(trigger.stdout).workflowId;
    expect(runId).toMatch(new RegExp(`^lakeforge/${pipeline}/sched-${id}-\\d{4}-\\d\\d-\\d\\dT`));
    const handle = server.client.workflow.getHandle(runId);
    await handle.result();
    const d = await handle.describe();
    expect(d.typedSearchAttributes.get(LakeforgePipeline)).toBe(pipeline);
    expect(d.typedSearchAttributes.get(LakeforgeStatus)).toBe('succeeded');

    const [pause, list] = await Promise.all([
      lf(['schedule', 'pause', id, '--note', 'maintenance']),
      lf(['list', '--pipeline', pipeline, '--json']),
    ]);
    expect(pause.code).toBe(0);
    expect(JSON.parse(list.stdout).map((r: { workflowId: string }) => r.workflowId)).toContain(runId);
    const [describeOut, schedList] = await Promise.all([
      lf(['schedule', 'describe', id]),
      lf(['schedule', 'list', '--pipeline', pipeline, '--json']),
    ]);
    expect(describeOut.code).toBe(0);
    expect(describeOut.stdout).toContain(`schedule ${id}  PAUSED — maintenance`);
    expect(describeOut.stdout).toContain(`recent   `);
    expect(describeOut.stdout).toContain(runId);
    expect(JSON.parse(schedList.stdout)).toMatchObject([{ scheduleId: id, pipeline, paused: true }]);

    const del = await lf(['schedule', 'delete', id]);
    expect(del.code).toBe(0);
    const gone = await lf(['schedule', 'trigger', id]);
    expect(gone.code).toBe(2);
    expect(gone.stderr.trim()).toBe(`error: no schedule with id "${id}"`);
  });

  it('the worker shuts down gracefully on SIGTERM', async () => {
    worker!.kill('SIGTERM');
    const code = await until('the worker to exit', async () => worker!.exitCode ?? undefined, 60_000);
    expect(code).toBe(0);
    expect(workerLog).toContain('SIGTERM: shutting down');
    expect(workerLog).toContain('worker stopped');
  });
});
