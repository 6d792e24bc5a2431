// setup: the trainer's Python venv for this project ($LAKEFORGE_HOME/venv, default .lakeforge/venv), with the
// trainer that ships inside the lakeforge package installed into it. Re-run after upgrading lakeforge; a venv whose
// stamp matches the trainer's pyproject is left alone.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../activities/common/config.js';
import { PACKAGE_ROOT } from '../../infra/user-root.mjs';
import { useProject } from '../../sdk/project.js';
import { CliError, EXIT_FAILED, EXIT_OK } from './errors.js';

const print = (s = '') => process.stdout.write(`${s}\n`);

/** Runs a program (argument array, no shell, output shown); rejects with the command line unless it exits 0. */
function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (err) => reject(new CliError(`cannot run ${cmd}: ${err.message}`, EXIT_FAILED, { cause: err })));
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new CliError(`${cmd} ${args.join(' ')} exited with ${code ?? signal}`, EXIT_FAILED))));
  });
}

export async function setupCommand(opts: { python?: string; extras?: string }): Promise<number> {
  await useProject();
  const venv = join(loadConfig().home, 'venv');
  const trainer = join(PACKAGE_ROOT, 'trainer');
  const target = opts.extras ? `${trainer}[${opts.extras}]` : trainer;
  const stampFile = join(venv, '.lakeforge-stamp');
  const stamp = createHash('sha256').update(readFileSync(join(trainer, 'pyproject.toml'))).update(target).digest('hex');
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
    print(`✔ ${venv} is up to date`);
    return EXIT_OK;
  }
  if (!existsSync(join(venv, 'bin', 'python'))) {
    mkdirSync(venv, { recursive: true });
    print(`creating ${venv} …`);
    await run(opts.python ?? process.env.PYTHON ?? 'python3', ['-m', 'venv', venv]);
  }
  print(`installing the lakeforge trainer (${target}) into ${venv}; PyTorch takes a few minutes the first time …`);
  await run(join(venv, 'bin', 'pip'), ['install', '--disable-pip-version-check', target]);
  writeFileSync(stampFile, stamp);
  print(`✔ ${venv} is ready`);
  return EXIT_OK;
}
