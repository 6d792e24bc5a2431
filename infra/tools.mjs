// Installs the Go-built tools lakeforge needs (the Temporal CLI, fake-gcs-server, versitygw, kubeconform) into
// $LAKEFORGE_HOME/tools/<name>-<version>/, built from the Go module proxy and cached by version.
// Plain Node with no dependencies: the bootstrap runs it before node_modules exist.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve, dirname, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';

import { userRoot } from './user-root.mjs';

/** The lakeforge package's own root (this checkout, or node_modules/lakeforge when installed). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** LAKEFORGE_HOME; a relative one (default `.lakeforge`) is under the user's project, not inside node_modules. */
export function lakeforgeHome(env = process.env) {
  const home = env.LAKEFORGE_HOME ?? '.lakeforge';
  return isAbsolute(home) ? home : resolve(userRoot(env), home);
}

export const GO_TOOLS = {
  temporal: { module: 'github.com/temporalio/cli/cmd/temporal', version: 'v1.5.1', bin: 'temporal' },
  'fake-gcs-server': { module: 'github.com/fsouza/fake-gcs-server', version: 'v1.55.1', bin: 'fake-gcs-server' },
  // The full server and its schema tool for infra/cluster, at the version the CLI above embeds.
  'temporal-server': { module: 'go.temporal.io/server/cmd/server', version: 'v1.29.1', bin: 'server' },
  'temporal-sql-tool': { module: 'go.temporal.io/server/cmd/tools/sql', version: 'v1.29.1', bin: 'sql' },
  // The S3 server the s3:// lake tests run against: Versity's S3 gateway over a POSIX directory (Apache-2.0,
  // run in production in front of HPC file systems; conditional writes, checksums, multipart uploads).
  versitygw: { module: 'github.com/versity/versitygw/cmd/versitygw', version: 'v1.8.0', bin: 'versitygw' },
  // Validates infra/k8s against JSON schemas prepared offline by infra/k8s-validate.mjs (test/k8s-manifests.test.ts).
  kubeconform: { module: 'github.com/yannh/kubeconform/cmd/kubeconform', version: 'v0.8.0', bin: 'kubeconform' },
};

export function toolPath(name, env = process.env) {
  const t = GO_TOOLS[name];
  if (!t) throw new Error(`unknown tool ${name}`);
  return join(lakeforgeHome(env), 'tools', `${name}-${t.version}`, t.bin);
}

/** Runs a command with inherited stdio-like progress, resolving on exit 0. */
export function runVisible(cmd, args, opts = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolvePromise() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}`)));
  });
}

/** Builds a Go tool once per version; a second call is a cheap existence check. */
export async function ensureGoTool(name, { log = (m) => process.stderr.write(`${m}\n`), env = process.env } = {}) {
  const t = GO_TOOLS[name];
  const target = toolPath(name, env);
  if (existsSync(target)) return target;
  const dir = dirname(target);
  // Build into a temporary GOBIN and rename, so an interrupted build never leaves a half-written binary.
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  log(`[lakeforge] building ${name} ${t.version} from the Go module proxy (first time only, takes a few minutes)…`);
  const started = Date.now();
  // `go install` is silent while it compiles; a ticker shows the build is alive.
  const ticker = setInterval(() => log(`[lakeforge]   … still building ${name} (${((Date.now() - started) / 1000).toFixed(0)}s)`), 30_000);
  try {
    await runVisible('go', ['install', `${t.module}@${t.version}`], {
      env: { ...env, GOBIN: tmp, CGO_ENABLED: '0' },
    });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    clearInterval(ticker);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  renameSync(tmp, dir);
  log(`[lakeforge] built ${name} ${t.version} in ${((Date.now() - started) / 1000).toFixed(0)}s → ${target}`);
  return target;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const names = process.argv.slice(2);
  for (const n of names.length ? names : Object.keys(GO_TOOLS)) console.log(await ensureGoTool(n));
}
