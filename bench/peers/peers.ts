// The peers of the benchmark: a venv of their own (bench/out/peers-venv, latest Prefect 3 and Dagster from PyPI, the
// DuckDB version lakeforge embeds), Prefect's API server on SQLite, and one Python process per measured run.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../activities/common/config.js';
import { freePort } from '../../infra/temporal/server.mjs';
import type { Sample } from './stats.js';

const OUT = join(REPO_ROOT, 'bench', 'out');
const VENV = join(OUT, 'peers-venv');
const PY = join(VENV, 'bin', 'python');
const HERE = join(REPO_ROOT, 'bench', 'peers');
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

/** The DuckDB engine version inside @duckdb/node-api, so the peers run the same SQL on the same engine. */
function lakeforgeDuckdbVersion(): string {
  const v = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', '@duckdb', 'node-bindings', 'package.json'), 'utf8')).version as string;
  return v.replace(/-r\.\d+$/, '');
}

export function ensurePeersVenv(): Record<string, string> {
  const duckdb = lakeforgeDuckdbVersion();
  if (!existsSync(PY)) {
    log(`creating ${VENV}`);
    execFileSync(process.env.PYTHON ?? 'python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
  }
  const have = () => JSON.parse(execFileSync(PY, ['-c', 'import json,importlib.metadata as m;print(json.dumps({p:m.version(p) for p in ("prefect","dagster","duckdb")}))'], { encoding: 'utf8' }));
  let versions: Record<string, string> | null = null;
  try { versions = have(); } catch { /* not installed yet */ }
  if (!versions || versions.duckdb !== duckdb || process.env.BENCH_UPGRADE_PEERS) {
    log('installing the latest prefect and dagster into the bench venv (pip)…');
    execFileSync(join(VENV, 'bin', 'pip'), ['install', '--disable-pip-version-check', '-q', '--upgrade', 'prefect', 'dagster', `duckdb==${duckdb}`], { stdio: 'inherit' });
    versions = have();
  }
  return versions!;
}

export interface PrefectServer { env: Record<string, string>; kill(): void }

/** `prefect server start` on a free port with its SQLite database (and its result storage) under `home`. */
export async function startPrefect(home: string): Promise<PrefectServer> {
  const port = await freePort();
  mkdirSync(home, { recursive: true });
  const env = { PREFECT_HOME: home, PREFECT_API_URL: `http://127.0.0.1:${port}/api`, PREFECT_SERVER_ANALYTICS_ENABLED: 'false', PREFECT_LOGGING_LEVEL: 'WARNING' };
  const child: ChildProcess = spawn(join(VENV, 'bin', 'prefect'), ['server', 'start', '--host', '127.0.0.1', '--port', String(port)],
    { env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try { if ((await fetch(`${env.PREFECT_API_URL}/health`)).ok) break; } catch { /* not up yet */ }
    if (child.exitCode !== null) throw new Error(`prefect server exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('prefect server did not answer /api/health within 120 s');
    await new Promise((r) => setTimeout(r, 500));
  }
  log(`prefect server at ${env.PREFECT_API_URL}`);
  return {
    env,
    kill: () => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } },
  };
}

/** One measured run of a peer: its Python process, argument array, own process group; the JSON line it prints. */
export function runPeer(peer: 'prefect' | 'dagster', mode: 'chain' | 'etl', args: { statements: string; work: string; steps: number }, env: Record<string, string>): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const child = spawn(PY, [join(HERE, `${peer}_peer.py`), mode, '--statements', args.statements, '--work', args.work, '--steps', String(args.steps)], {
      cwd: HERE, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('exit', (code) => {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* reaped */ }
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`${peer} ${mode} exited ${code}: ${err.slice(-2000)}`));
      else resolve(JSON.parse(line) as Sample);
    });
  });
}
