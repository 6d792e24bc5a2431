// Runs the real Temporal dev server (temporal CLI v1.5.1, `server start-dev`) for lakeforge:
// start (idempotent: an already running server is reused), stop and status.
// Plain Node with no dependencies so that the bootstrap can use it before `npm ci`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureGoTool, lakeforgeHome } from '../tools.mjs';

/** docs/design.md#temporal-names: registered on every dev server lakeforge starts. */
export const SEARCH_ATTRIBUTES = {
  LakeforgePipeline: 'Keyword',
  LakeforgeDataset: 'Keyword',
  LakeforgeStep: 'Keyword',
  LakeforgeModel: 'Keyword',
  LakeforgeStatus: 'Keyword',
};

/** Dynamic config for priority and fairness matching; also in infra/cluster/dynamicconfig.yaml (docs/production.md). */
export const MATCHER_DYNAMIC_CONFIG = ['matching.useNewMatcher=true', 'matching.enableFairness=true'];
/**
 * The dev server is one process: its queues gain nothing from several partitions, and priority and fairness order
 * tasks within a partition (across partitions only roughly), so one partition makes the order exact here.
 */
export const DEV_PARTITION_CONFIG = ['matching.numTaskqueueReadPartitions=1', 'matching.numTaskqueueWritePartitions=1'];

function parseAddress(address) {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i) || '127.0.0.1', port: Number(address.slice(i + 1)) };
}

export function portOpen(host, port, timeoutMs = 500) {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    const done = (ok) => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** True when the frontend at `address` answers the health check (a real Temporal server, not just an open port). */
export function serverHealthy(temporalBin, address) {
  const r = spawnSync(temporalBin, ['operator', 'cluster', 'health', '--address', address], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 && /SERVING/.test(r.stdout);
}

async function waitHealthy(temporalBin, address, child, logFile, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  const { host, port } = parseAddress(address);
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      throw new Error(`temporal server exited with ${child.exitCode} before it was ready; see ${logFile}`);
    }
    if ((await portOpen(host, port)) && serverHealthy(temporalBin, address)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`temporal server at ${address} was not ready within ${timeoutMs / 1000}s; see ${logFile}`);
}

/**
 * Spawns `temporal server start-dev`, detached in its own process group, and waits until it serves.
 * dbFile null keeps state in memory (tests); uiPort null runs headless. dynamicConfig: more `--dynamic-config-value`s.
 */
export async function spawnDevServer({ temporalBin, ip = '127.0.0.1', port, uiPort, dbFile, logFile, namespace = 'default', dynamicConfig = {} }) {
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port), '--namespace', namespace, '--log-level', 'warn'];
  if (dbFile) args.push('--db-filename', dbFile);
  if (uiPort) args.push('--ui-port', String(uiPort));
  else args.push('--headless');
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  // Eager activity dispatch: an activity on the workflow's own task queue comes back with the workflow task's
  // reply instead of a second trip through matching (halves the hop between ETL steps; bench/peers).
  args.push('--dynamic-config-value', 'system.enableActivityEagerExecution=true');
  // Task priority and fair share between teams (workflows/priority.ts) need the new matcher; without these the
  // server ignores tasks' priority and fairness keys and serves each queue first in, first out.
  for (const kv of [...MATCHER_DYNAMIC_CONFIG, ...DEV_PARTITION_CONFIG]) args.push('--dynamic-config-value', kv);
  // Extra server settings, e.g. lowered history limits for test/long-run.test.ts.
  for (const [key, value] of Object.entries(dynamicConfig)) args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  // Shorter visibility refresh would be nicer for tests, but the dev server's SQLite visibility is already immediate.
  const out = openSync(logFile, 'a');
  const child = spawn(temporalBin, args, { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  await waitHealthy(temporalBin, `${ip}:${port}`, child, logFile);
  return child;
}

function stateDir(env = process.env) {
  const dir = join(lakeforgeHome(env), 'temporal');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function readPid(env) {
  const f = join(stateDir(env), 'server.pid');
  if (!existsSync(f)) return null;
  const pid = Number(readFileSync(f, 'utf8').trim());
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

/**
 * The Web UI's base URL: LAKEFORGE_UI_URL when set (a proxy, a cluster's UI), else the port the running dev server
 * was started on (recorded at start, so a CLI in another shell without LAKEFORGE_UI_PORT links to the right one),
 * else LAKEFORGE_UI_PORT, else 8233.
 */
export function webUiUrl(env = process.env) {
  if (env.LAKEFORGE_UI_URL) return env.LAKEFORGE_UI_URL;
  const recorded = join(stateDir(env), 'ui.url');
  if (readPid(env) && existsSync(recorded)) return readFileSync(recorded, 'utf8').trim();
  return `http://localhost:${env.LAKEFORGE_UI_PORT || 8233}`;
}

/** Ensures a dev server answers at TEMPORAL_ADDRESS; starts one with a persistent SQLite db when none does. */
export async function startServer({ env = process.env, log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const address = env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const temporalBin = await ensureGoTool('temporal', { log, env });
  const { host, port } = parseAddress(address);
  if (await portOpen(host, port)) {
    if (serverHealthy(temporalBin, address)) {
      log(`[lakeforge] Temporal server already running at ${address}`);
      return { address, started: false };
    }
    throw new Error(`something listens on ${address} but it is not a healthy Temporal server`);
  }
  if (!['127.0.0.1', 'localhost', '0.0.0.0'].includes(host)) {
    throw new Error(`no Temporal server answers at ${address}, and lakeforge only starts a dev server on this machine`);
  }
  const dir = stateDir(env);
  const logFile = join(dir, 'server.log');
  log(`[lakeforge] starting Temporal dev server at ${address} (UI ${webUiUrl(env)}, state ${join(dir, 'dev.db')})…`);
  const child = await spawnDevServer({
    temporalBin, ip: '127.0.0.1', port, uiPort: Number(env.LAKEFORGE_UI_PORT || 8233), dbFile: join(dir, 'dev.db'), logFile,
    namespace: env.TEMPORAL_NAMESPACE ?? 'default',
  });
  writeFileSync(join(dir, 'server.pid'), String(child.pid));
  writeFileSync(join(dir, 'ui.url'), `http://localhost:${Number(env.LAKEFORGE_UI_PORT || 8233)}`);
  log(`[lakeforge] Temporal dev server ready (pid ${child.pid})`);
  return { address, started: true, pid: child.pid };
}

export async function stopServer({ env = process.env, log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const pid = readPid(env);
  if (!pid) {
    log('[lakeforge] no Temporal dev server started by lakeforge is running');
    return false;
  }
  try { process.kill(-pid, 'SIGTERM'); } catch { process.kill(pid, 'SIGTERM'); }
  for (let i = 0; i < 100 && readPid(env); i++) await new Promise((r) => setTimeout(r, 100));
  if (readPid(env)) { try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ } }
  rmSync(join(stateDir(env), 'server.pid'), { force: true });
  log(`[lakeforge] stopped Temporal dev server (pid ${pid})`);
  return true;
}

export async function serverStatus({ env = process.env } = {}) {
  const address = env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const { host, port } = parseAddress(address);
  const listening = await portOpen(host, port);
  return { address, listening, pid: readPid(env), ui: webUiUrl(env) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const cmd = process.argv[2] ?? 'status';
  if (cmd === 'start') await startServer();
  else if (cmd === 'stop') await stopServer();
  else if (cmd === 'status') console.log(JSON.stringify(await serverStatus(), null, 2));
  else { console.error('usage: server.mjs start|stop|status'); process.exit(2); }
}
