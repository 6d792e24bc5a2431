// Where a Python step's code and interpreter are: the script inside the project (refused outside it, symlinks
// included), its content hash for the version, and the project's venv.
import { readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { invalidPipeline } from '../../contracts/failures.js';
import { loadConfig, REPO_ROOT } from '../../activities/common/config.js';
import { sha256Hex } from '../../activities/kernel/version.js';
import type { PythonStepDeps } from './types.js';

export interface ResolvedScript {
  /** Absolute, symlinks resolved. */
  abs: string;
  /** As declared (project-relative), for messages and the manifest. */
  rel: string;
  sha256: string;
}

export function isInside(root: string, p: string): boolean {
  const r = relative(root, p);
  return r === '' || (!r.startsWith(`..${sep}`) && r !== '..' && !isAbsolute(r));
}

/** The script a step declares, confined to the project (a symlink out of it is refused like a path out of it). */
export async function resolveScript(projectRoot: string, script: string, stepName: string): Promise<ResolvedScript> {
  const what = `python step ${stepName}: script ${script}`;
  if (isAbsolute(script)) throw invalidPipeline(`${what} must be a path relative to the project ${projectRoot}`, { file: script, field: 'script' });
  const root = await realpath(projectRoot);
  const declared = resolve(root, script);
  if (!isInside(root, declared)) throw invalidPipeline(`${what} lies outside the project ${root}`, { file: script, field: 'script' });
  let abs: string;
  try {
    abs = await realpath(declared);
  } catch {
    throw invalidPipeline(`${what} does not exist (looked for ${declared})`, { file: script, field: 'script' });
  }
  if (!isInside(root, abs)) throw invalidPipeline(`${what} is a symlink to ${abs}, outside the project ${root}`, { file: script, field: 'script' });
  if (!(await stat(abs)).isFile()) throw invalidPipeline(`${what} is not a file`, { file: script, field: 'script' });
  return { abs, rel: script, sha256: sha256Hex(await readFile(abs)) };
}

/** The step's interpreter: deps.python, the project's venv, LAKEFORGE_PYTHON, else the lakeforge venv. */
export function resolvePython(deps: PythonStepDeps, env: NodeJS.ProcessEnv = process.env): string {
  if (deps.python) return deps.python;
  if (deps.venv) return join(resolve(deps.projectRoot, deps.venv), 'bin', 'python');
  if (env.LAKEFORGE_PYTHON) return env.LAKEFORGE_PYTHON;
  return join(deps.home ?? loadConfig().home, 'venv', 'bin', 'python');
}

export function resolveTrainerDir(deps: PythonStepDeps): string {
  return deps.trainerDir ?? join(REPO_ROOT, 'trainer');
}
