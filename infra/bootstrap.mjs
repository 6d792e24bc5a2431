// The one entry point behind `npm start` and `npm test` on a fresh clone: installs what is missing
// (node modules, the Temporal CLI, fake-gcs-server, the trainer venv; for tests also kubeconform and its schemas),
// each step idempotent and skipped when its inputs have not changed, then runs the demo or the tests.
// Plain Node with no dependencies, because it runs before node_modules exist.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, ensureGoTool, lakeforgeHome } from './tools.mjs';
import { postgresBin } from './cluster/cluster.mjs';
import { ensureK8sSchemas } from './k8s-validate.mjs';

const log = (m) => process.stderr.write(`${m}\n`);
const sha = (file) => createHash('sha256').update(readFileSync(join(REPO_ROOT, file))).digest('hex');

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit', cwd: REPO_ROOT, ...opts });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function mustRun(cmd, args, opts) {
  const code = await run(cmd, args, opts);
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${code}`);
}

/** Re-runs `install` only when the hash of `inputs` differs from the stamp left by the last success. */
async function stamped(stampFile, inputs, what, install, salt = '') {
  const want = inputs.map(sha).join(':') + salt;
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === want) {
    log(`[lakeforge] ${what}: up to date`);
    return;
  }
  const started = Date.now();
  log(`[lakeforge] ${what}: installing…`);
  await install();
  writeFileSync(stampFile, want);
  log(`[lakeforge] ${what}: done in ${((Date.now() - started) / 1000).toFixed(0)}s`);
}

export async function ensureNodeModules() {
  const stamp = join(REPO_ROOT, 'node_modules', '.lakeforge-stamp');
  await stamped(stamp, ['package-lock.json'], 'node modules (npm ci)', async () => {
    const args = ['--no-audit', '--no-fund', '--loglevel=error'];
    if ((await run('npm', ['ci', ...args], { stdio: ['ignore', 'inherit', 'ignore'] })) !== 0) {
      // npm ci refuses a lockfile that lacks other platforms' optional packages (a registry mirror that does not serve
      // them leaves them out). `npm install --no-save` installs the same pinned versions and leaves the lockfile as is.
      log('[lakeforge] npm ci refused the lockfile; installing its pinned versions with npm install --no-save');
      await mustRun('npm', ['install', '--no-save', ...args]);
    }
  });
}

export function venvPython(env = process.env) {
  return join(lakeforgeHome(env), 'venv', 'bin', 'python');
}

// The trainer with its test, benchmark, LoRA (peft) and examples (the intents data set) extras, so no test is skipped
// for a missing package.
const TRAINER_EXTRAS = 'trainer[test,bench,lora,examples]';

export async function ensureVenv(env = process.env) {
  const venv = join(lakeforgeHome(env), 'venv');
  await stamped(join(venv, '.lakeforge-stamp'), ['trainer/pyproject.toml'], `trainer venv (${venv})`, async () => {
    if (!existsSync(join(venv, 'bin', 'python'))) {
      mkdirSync(lakeforgeHome(env), { recursive: true });
      await mustRun(process.env.PYTHON ?? 'python3', ['-m', 'venv', venv]);
    }
    const pip = join(venv, 'bin', 'pip');
    // torch is large: pip's own progress is the progress shown here.
    await mustRun(pip, ['install', '--disable-pip-version-check', '--progress-bar', process.stdout.isTTY ? 'on' : 'off', '-e', TRAINER_EXTRAS]);
  }, TRAINER_EXTRAS);
}

/**
 * Headless Chromium for the Web UI browser test (test/webui.test.ts), from Debian's `chromium` package. Skipped when
 * /usr/bin/chromium exists; installed with apt-get when running as root; otherwise (or when apt fails) a loud warning,
 * and that one test skips itself saying why.
 */
export async function ensureChromium() {
  if (existsSync('/usr/bin/chromium')) {
    log('[lakeforge] chromium (Web UI test): up to date');
    return;
  }
  const warn = (why) => log(`\n${'!'.repeat(100)}\n!! chromium is not installed (${why}):\n!! the Web UI browser test will be SKIPPED.\n!! Install it with: apt-get update && apt-get install -y --no-install-recommends chromium\n${'!'.repeat(100)}\n`);
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return warn('not root, so apt-get cannot run');
  const started = Date.now();
  log('[lakeforge] chromium (Web UI test): installing with apt-get…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let code;
  try {
    code = (await run('apt-get', ['update'], { env })) || (await run('apt-get', ['install', '-y', '--no-install-recommends', '-o', 'Dpkg::Progress-Fancy=1', 'chromium'], { env }));
  } catch (err) {
    return warn(`apt-get could not run: ${err.message}`);
  }
  if (code !== 0 || !existsSync('/usr/bin/chromium')) return warn(`apt-get exited with ${code}`);
  log(`[lakeforge] chromium (Web UI test): done in ${((Date.now() - started) / 1000).toFixed(0)}s`);
}

/** The full Temporal server, its SQL tool and PostgreSQL, for the cluster test (infra/cluster). */
async function ensureClusterTools() {
  await ensureGoTool('temporal-server', { log });
  await ensureGoTool('temporal-sql-tool', { log });
  const started = Date.now();
  const bin = postgresBin(log);
  log(`[lakeforge] PostgreSQL (cluster test): ${bin} (${((Date.now() - started) / 1000).toFixed(0)}s)`);
}

async function ensureAll() {
  await ensureNodeModules();
  await ensureGoTool('temporal', { log });
  await ensureGoTool('fake-gcs-server', { log });
  await ensureVenv();
}

const tsx = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const mode = process.argv[2];
try {
  if (mode === 'deps') {
    await ensureAll();
  } else if (mode === 'test') {
    await ensureAll();
    await ensureChromium();
    await ensureClusterTools();
    // A real S3 server for the s3:// lake tests (test/setup/s3-server.ts).
    await ensureGoTool('versitygw', { log });
    // kubeconform and the offline Kubernetes / KEDA schemas for test/k8s-manifests.test.ts.
    await ensureGoTool('kubeconform', { log });
    await ensureK8sSchemas({ log });
    log('[lakeforge] type-checking (tsc --noEmit)…');
    await mustRun(join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), ['--noEmit']);
    log('[lakeforge] trainer tests (pytest)…');
    const py = await run(venvPython(), ['-m', 'pytest', '-q', 'trainer/tests']);
    log('[lakeforge] engine tests (vitest, real Temporal dev server)…');
    const ts = await run(join(REPO_ROOT, 'node_modules', '.bin', 'vitest'), ['run', ...process.argv.slice(3)]);
    if (py !== 0 || ts !== 0) throw new Error(`tests failed (pytest exit ${py}, vitest exit ${ts})`);
  } else if (mode === 'start') {
    await ensureAll();
    const code = await run(tsx, ['examples/demo.ts', ...process.argv.slice(3)]);
    process.exitCode = code;
  } else {
    log('usage: node infra/bootstrap.mjs deps|test|start');
    process.exitCode = 2;
  }
} catch (err) {
  log(`[lakeforge] ${err.message}`);
  process.exitCode = 1;
}
