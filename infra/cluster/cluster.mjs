// A full Temporal server for lakeforge on one machine: the server and temporal-sql-tool v1.29.1 built from the Go
// module proxy, PostgreSQL (Debian's, installed when missing) for persistence and advanced visibility, mTLS on the
// frontend with certificates made by openssl, and the lakeforge search attributes registered through the operator
// service. start / stop / status are idempotent. Plain Node with no dependencies, like the dev-server script.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureGoTool, lakeforgeHome, REPO_ROOT } from '../tools.mjs';
import { createServer } from 'node:net';
import { portOpen, SEARCH_ATTRIBUTES } from '../temporal/server.mjs';

export const SERVER_VERSION = 'v1.29.1';
const SERVICES = ['frontend', 'history', 'matching', 'worker'];

/** State (PostgreSQL data, certificates, ports, logs): `$LAKEFORGE_HOME/cluster`, or LAKEFORGE_CLUSTER_DIR. */
export function clusterDir(env = process.env) {
  return env.LAKEFORGE_CLUSTER_DIR ?? join(lakeforgeHome(env), 'cluster');
}

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  return r;
}

function must(cmd, args, opts = {}) {
  const r = sh(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${(r.stderr || r.stdout || '').slice(-2000)}`);
  return r.stdout;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** PostgreSQL's server binaries: Debian's versioned directory first, then PATH; apt-get installs them when missing. */
export function postgresBin(log = (m) => process.stderr.write(`${m}\n`)) {
  const find = () => {
    const base = '/usr/lib/postgresql';
    if (existsSync(base)) {
      const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
      if (versions.length) return join(base, versions[0], 'bin');
    }
    const r = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim().replace(/\/initdb$/, '') : null;
  };
  let bin = find();
  if (bin) return bin;
  if (!isRoot()) throw new Error('PostgreSQL is not installed and this is not root: install the Debian package `postgresql`');
  log('[lakeforge] installing PostgreSQL from Debian (apt-get install postgresql)…');
  const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  must('apt-get', ['update'], { env: aptEnv, stdio: ['ignore', 'inherit', 'inherit'] });
  must('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], { env: aptEnv, stdio: ['ignore', 'inherit', 'inherit'] });
  bin = find();
  if (!bin) throw new Error('apt-get installed postgresql but initdb was not found');
  return bin;
}

/** PostgreSQL refuses to run as root: drop to the `postgres` user (setpriv execs, so pids stay the real ones). */
function asPostgres(cmd, args) {
  if (!isRoot()) return [cmd, args];
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', cmd, ...args]];
}

function chownToPostgres(path) {
  if (!isRoot()) return;
  const uid = Number(must('id', ['-u', 'postgres']).trim());
  const gid = Number(must('id', ['-g', 'postgres']).trim());
  chownSync(path, uid, gid);
}

/** CA, a server certificate for localhost/127.0.0.1 and a client certificate, made once with openssl. */
export function ensureCertificates(dir) {
  if (existsSync(join(dir, 'client.key'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const o = (...args) => must('openssl', args, { cwd: tmp });
  o('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '825', '-subj', '/CN=lakeforge-cluster-ca', '-keyout', 'ca.key', '-out', 'ca.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  for (const [name, cn, ext] of [
    ['server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n'],
    ['client', 'lakeforge-client', 'extendedKeyUsage=clientAuth\n'],
  ]) {
    o('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    writeFileSync(join(tmp, `${name}.ext`), ext);
    o('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '825', '-out', `${name}.pem`, '-extfile', `${name}.ext`);
  }
  rmSync(dir, { recursive: true, force: true });
  spawnSync('mv', [tmp, dir]);
  return dir;
}

/**
 * A free loopback port below 32768: the server stores membership ports in a PostgreSQL smallint, so the kernel's
 * ephemeral range (32768+) is out.
 */
async function freeLowPort() {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canBind(port)) return port;
  }
  throw new Error('no free port found in 20000-31999');
}

function canBind(port) {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Ports and secrets are chosen once and kept, so the cluster comes back where clients expect it. */
async function loadOrCreateState(dir, env) {
  const file = join(dir, 'cluster.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const port = async (v) => (v ? Number(v) : await freeLowPort());
  const state = {
    version: SERVER_VERSION,
    frontendPort: await port(env.LAKEFORGE_CLUSTER_PORT),
    pgPort: await port(env.LAKEFORGE_CLUSTER_PG_PORT),
    pgPassword: randomBytes(18).toString('base64url'),
    tls: env.LAKEFORGE_CLUSTER_TLS !== '0',
  };
  for (const s of SERVICES) {
    if (s !== 'frontend') state[`${s}Port`] = await freeLowPort();
    state[`${s}MembershipPort`] = await freeLowPort();
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, JSON.stringify(state, null, 2));
  return state;
}

/** What a lakeforge client needs to reach this cluster (TEMPORAL_* variables). */
export function clientEnv(state, dir) {
  const env = { TEMPORAL_ADDRESS: `127.0.0.1:${state.frontendPort}`, TEMPORAL_NAMESPACE: 'default' };
  if (state.tls) {
    Object.assign(env, {
      TEMPORAL_TLS_CERT: join(dir, 'tls', 'client.pem'),
      TEMPORAL_TLS_KEY: join(dir, 'tls', 'client.key'),
      TEMPORAL_TLS_CA: join(dir, 'tls', 'ca.pem'),
      TEMPORAL_TLS_SERVER_NAME: 'localhost',
    });
  }
  return env;
}

/** Arguments for the temporal CLI to reach the cluster (health checks, operator commands). */
function cliArgs(state, dir) {
  const args = ['--address', `127.0.0.1:${state.frontendPort}`];
  if (state.tls) {
    args.push('--tls-cert-path', join(dir, 'tls', 'client.pem'), '--tls-key-path', join(dir, 'tls', 'client.key'),
      '--tls-ca-path', join(dir, 'tls', 'ca.pem'), '--tls-server-name', 'localhost');
  }
  return args;
}

function pidAlive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function readPidFile(file) {
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0].trim());
  return pidAlive(pid) ? pid : null;
}

async function waitFor(what, fn, timeoutMs, logFile) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what} did not happen within ${timeoutMs / 1000}s${logFile ? `; see ${logFile}` : ''}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function ensurePostgres(dir, state, log) {
  const bin = postgresBin(log);
  const data = join(dir, 'pg');
  const logFile = join(dir, 'postgres.log');
  if (!existsSync(join(data, 'PG_VERSION'))) {
    log(`[lakeforge] initialising PostgreSQL in ${data}…`);
    rmSync(data, { recursive: true, force: true });
    mkdirSync(data, { recursive: true, mode: 0o700 });
    chownToPostgres(data);
    const pw = join(dir, 'pg', '..', 'pg-password.tmp');
    writeFileSync(pw, `${state.pgPassword}\n`, { mode: 0o600 });
    chownToPostgres(pw);
    try {
      must(...asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'temporal', `--pwfile=${pw}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8']));
    } finally {
      rmSync(pw, { force: true });
    }
  }
  if (!(await portOpen('127.0.0.1', state.pgPort)) || !readPidFile(join(data, 'postmaster.pid'))) {
    log(`[lakeforge] starting PostgreSQL on 127.0.0.1:${state.pgPort}…`);
    const out = openSync(logFile, 'a');
    const [cmd, args] = asPostgres(join(bin, 'postgres'), ['-D', data, '-p', String(state.pgPort), '-k', data,
      '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'fsync=on']);
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out] });
    child.unref();
    await waitFor('PostgreSQL accepting connections', () => {
      if (child.exitCode !== null) throw new Error(`postgres exited ${child.exitCode}; see ${logFile}`);
      return sh(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(state.pgPort)]).status === 0;
    }, 60_000, logFile);
  }
  return { bin, data };
}

/** The server module's SQL schemas (shipped in go.temporal.io/server@version, fetched into the module cache). */
function schemaDir() {
  // `go mod download` of module@version works outside any module; the build already put it in the module cache.
  const out = must('go', ['mod', 'download', '-json', `go.temporal.io/server@${SERVER_VERSION}`], { cwd: '/' });
  return join(JSON.parse(out).Dir, 'schema', 'postgresql', 'v12');
}

function ensureSchemas(dir, state, sqlTool, log) {
  const marker = join(dir, `schema-${SERVER_VERSION}.done`);
  if (existsSync(marker)) return;
  const schemas = schemaDir();
  const base = ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(state.pgPort), '-u', 'temporal', '--pw', state.pgPassword];
  for (const [db, sub] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']]) {
    log(`[lakeforge] creating the ${db} database and schema with temporal-sql-tool…`);
    const created = sh(sqlTool, [...base, '--db', db, 'create-database']);
    if (created.status !== 0 && !/already exists/.test(created.stderr + created.stdout)) {
      throw new Error(`temporal-sql-tool create-database ${db} failed:\n${created.stderr}`);
    }
    // setup-schema -v 0.0 creates the version table; update-schema applies every versioned step (idempotent).
    must(sqlTool, [...base, '--db', db, 'setup-schema', '-v', '0.0']);
    must(sqlTool, [...base, '--db', db, 'update-schema', '-d', join(schemas, sub, 'versioned')]);
  }
  writeFileSync(marker, new Date().toISOString());
}

function serverEnv(dir, state) {
  const env = {
    ...process.env,
    LAKEFORGE_CLUSTER_PG_PORT: String(state.pgPort),
    LAKEFORGE_CLUSTER_PG_PASSWORD: state.pgPassword,
    LAKEFORGE_CLUSTER_DYNAMIC_CONFIG: join(REPO_ROOT, 'infra', 'cluster', 'dynamicconfig.yaml'),
  };
  for (const s of SERVICES) {
    env[`LAKEFORGE_CLUSTER_${s.toUpperCase()}_PORT`] = String(s === 'frontend' ? state.frontendPort : state[`${s}Port`]);
    env[`LAKEFORGE_CLUSTER_${s.toUpperCase()}_MEMBERSHIP_PORT`] = String(state[`${s}MembershipPort`]);
  }
  if (state.tls) env.LAKEFORGE_CLUSTER_TLS_DIR = join(dir, 'tls');
  else delete env.LAKEFORGE_CLUSTER_TLS_DIR;
  return env;
}

function healthy(temporalBin, state, dir) {
  const r = sh(temporalBin, ['operator', 'cluster', 'health', ...cliArgs(state, dir)], { timeout: 10_000 });
  return r.status === 0 && /SERVING/.test(r.stdout);
}

function registerNamespaceAndAttributes(temporalBin, state, dir, log) {
  const args = cliArgs(state, dir);
  const ns = sh(temporalBin, ['operator', 'namespace', 'create', '--namespace', 'default', '--retention', '72h', ...args]);
  if (ns.status !== 0 && !/already exists|AlreadyExists/i.test(ns.stderr + ns.stdout)) throw new Error(`namespace create failed:\n${ns.stderr}`);
  const existing = sh(temporalBin, ['operator', 'search-attribute', 'list', '--namespace', 'default', ...args]).stdout ?? '';
  const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !existing.includes(name));
  if (missing.length) {
    log(`[lakeforge] registering search attributes ${missing.map(([n]) => n).join(', ')}…`);
    const saArgs = missing.flatMap(([name, type]) => ['--name', name, '--type', type]);
    must(temporalBin, ['operator', 'search-attribute', 'create', '--namespace', 'default', ...saArgs, ...args]);
  }
}

/** Starts (or finds running) PostgreSQL and the Temporal server; returns the client environment. */
export async function startCluster({ env = process.env, log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const dir = clusterDir(env);
  mkdirSync(dir, { recursive: true });
  // The postgres user must be able to reach its data directory inside (a private temp dir would stop it).
  if (isRoot()) chmodSync(dir, 0o711);
  const state = await loadOrCreateState(dir, env);
  const [temporalBin, serverBin, sqlTool] = [
    await ensureGoTool('temporal', { log, env }),
    await ensureGoTool('temporal-server', { log, env }),
    await ensureGoTool('temporal-sql-tool', { log, env }),
  ];
  if (state.tls) ensureCertificates(join(dir, 'tls'));
  const pidFile = join(dir, 'server.pid');
  if (readPidFile(pidFile) && healthy(temporalBin, state, dir)) {
    log(`[lakeforge] Temporal cluster already running at 127.0.0.1:${state.frontendPort}`);
    return { started: false, env: clientEnv(state, dir), dir };
  }
  await ensurePostgres(dir, state, log);
  ensureSchemas(dir, state, sqlTool, log);
  const logFile = join(dir, 'server.log');
  log(`[lakeforge] starting Temporal server ${SERVER_VERSION} (PostgreSQL, ${state.tls ? 'mTLS' : 'no TLS'}) on 127.0.0.1:${state.frontendPort}…`);
  const out = openSync(logFile, 'a');
  const child = spawn(serverBin, ['--root', REPO_ROOT, '--config', 'infra/cluster', '--env', 'lakeforge', '--allow-no-auth', 'start'], {
    detached: true, stdio: ['ignore', out, out], env: serverEnv(dir, state),
  });
  child.unref();
  writeFileSync(pidFile, String(child.pid));
  await waitFor('the Temporal frontend to serve', () => {
    if (child.exitCode !== null) throw new Error(`temporal server exited ${child.exitCode} before it was ready; see ${logFile}`);
    return healthy(temporalBin, state, dir);
  }, 180_000, logFile);
  // Right after start the namespace registry may lag; retry registration briefly.
  await waitFor('namespace and search attribute registration', () => {
    try {
      registerNamespaceAndAttributes(temporalBin, state, dir, log);
      return true;
    } catch (err) {
      if (child.exitCode !== null) throw err;
      return false;
    }
  }, 60_000, logFile);
  log(`[lakeforge] Temporal cluster ready (server pid ${child.pid}); client environment:`);
  for (const [k, v] of Object.entries(clientEnv(state, dir))) log(`  ${k}=${v}`);
  return { started: true, env: clientEnv(state, dir), dir, pid: child.pid };
}

async function stopPid(pid, what, log) {
  if (!pid) return false;
  try { process.kill(pid, 'SIGTERM'); } catch { return false; }
  for (let i = 0; i < 150 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (pidAlive(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  log(`[lakeforge] stopped ${what} (pid ${pid})`);
  return true;
}

/** Stops the server, then PostgreSQL (fast shutdown). Data stays; `start` brings both back. */
export async function stopCluster({ env = process.env, log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const dir = clusterDir(env);
  const a = await stopPid(readPidFile(join(dir, 'server.pid')), 'Temporal server', log);
  rmSync(join(dir, 'server.pid'), { force: true });
  // SIGINT is PostgreSQL's "fast" shutdown: abort transactions, checkpoint, exit.
  const pgPid = readPidFile(join(dir, 'pg', 'postmaster.pid'));
  let b = false;
  if (pgPid) {
    try { process.kill(pgPid, 'SIGINT'); } catch { /* gone */ }
    for (let i = 0; i < 300 && pidAlive(pgPid); i++) await new Promise((r) => setTimeout(r, 100));
    b = true;
    log(`[lakeforge] stopped PostgreSQL (pid ${pgPid})`);
  }
  if (!a && !b) log('[lakeforge] no lakeforge cluster is running');
  return a || b;
}

export async function clusterStatus({ env = process.env } = {}) {
  const dir = clusterDir(env);
  const file = join(dir, 'cluster.json');
  if (!existsSync(file)) return { configured: false, dir };
  const state = JSON.parse(readFileSync(file, 'utf8'));
  return {
    configured: true,
    dir,
    server: { pid: readPidFile(join(dir, 'server.pid')), listening: await portOpen('127.0.0.1', state.frontendPort) },
    postgres: { pid: readPidFile(join(dir, 'pg', 'postmaster.pid')), port: state.pgPort },
    tls: state.tls,
    env: clientEnv(state, dir),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const cmd = process.argv[2] ?? 'status';
  try {
    if (cmd === 'start') await startCluster();
    else if (cmd === 'stop') await stopCluster();
    else if (cmd === 'status') console.log(JSON.stringify(await clusterStatus(), null, 2));
    else if (cmd === 'env') {
      const s = await clusterStatus();
      if (!s.configured) throw new Error('no cluster configured yet: run `node infra/cluster/cluster.mjs start`');
      for (const [k, v] of Object.entries(s.env)) console.log(`export ${k}=${v}`);
    } else { console.error('usage: node infra/cluster/cluster.mjs start|stop|status|env'); process.exit(2); }
  } catch (err) {
    console.error(`[lakeforge] ${err.message}`);
    process.exit(1);
  }
}
