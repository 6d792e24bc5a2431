// Where a user's files live: the lakeforge project around the current directory, else (lakeforge installed as a
// package) the current directory, else (a checkout of lakeforge itself) the repository. LAKEFORGE_HOME, the default
// lake and `uses: sql` files resolve against it; the trainer and the built-in SQL stay package-relative (PACKAGE_ROOT).
// Plain Node with no dependencies: infra/tools.mjs (run before node_modules exist) uses it too.
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The root of the lakeforge package (this repository, or node_modules/lakeforge when installed). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The config file names a project root holds, in the order they are looked for. */
export const PROJECT_CONFIG_FILES = ['lakeforge.config.ts', 'lakeforge.config.json'];

/** Whether lakeforge runs as an installed package rather than from its own checkout. */
export function isInstalledPackage(root = PACKAGE_ROOT) {
  return root.split(sep).includes('node_modules');
}

/** The nearest directory at or above `from` holding a project config file, and that file; undefined if none. */
export function findProjectConfig(from = process.cwd()) {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    for (const name of PROJECT_CONFIG_FILES) {
      const file = join(dir, name);
      if (existsSync(file) && statSync(file).isFile()) return { dir, file };
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The directory user files resolve against: LAKEFORGE_PROJECT_DIR when set (the CLI sets it once it found the
 * project, so workers and tools it starts agree), else the project around the cwd, else the cwd for an installed
 * package, else this repository.
 */
export function userRoot(env = process.env, cwd = process.cwd()) {
  if (env.LAKEFORGE_PROJECT_DIR) return resolve(cwd, env.LAKEFORGE_PROJECT_DIR);
  const found = findProjectConfig(cwd);
  if (found) return found.dir;
  return isInstalledPackage() ? resolve(cwd) : PACKAGE_ROOT;
}
