// init <dir>: scaffolds a lakeforge project (cli/init/template/ plus a package.json that depends on lakeforge).
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAKEFORGE_VERSION } from '../../activities/common/config.js';
import { EXIT_OK, usageError } from './errors.js';

const TEMPLATE = fileURLToPath(new URL('../init/template/', import.meta.url));
const print = (s = '') => process.stdout.write(`${s}\n`);

/** An npm package name from the directory's name: lowercase, url-safe, never empty. */
export function packageName(dir: string): string {
  const n = basename(resolve(dir)).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+|[-]+$/g, '');
  return n.slice(0, 214) || 'lakeforge-project';
}

/**
 * The `lakeforge` dependency: a path to a tarball or a directory (written as file:<absolute path>, so the project
 * installs from anywhere), or a version / range / npm spec as given. Default: this lakeforge's version.
 */
export function lakeforgeDependency(spec: string | undefined, cwd = process.cwd()): string {
  if (!spec) return `^${LAKEFORGE_VERSION}`;
  if (spec.startsWith('file:')) return `file:${resolve(cwd, spec.slice(5))}`;
  if (spec.endsWith('.tgz') || spec.startsWith('.') || isAbsolute(spec)) {
    const abs = resolve(cwd, spec);
    if (!existsSync(abs)) throw usageError(`--lakeforge: ${spec} does not exist`);
    return `file:${abs}`;
  }
  return spec;
}

function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? filesUnder(p, base) : [relative(base, p)];
  });
}

export function initCommand(dir: string, opts: { lakeforge?: string; force?: boolean }): number {
  const target = resolve(dir);
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw usageError(`${dir} exists and is not a directory`);
    const entries = readdirSync(target);
    if (entries.length && !opts.force) throw usageError(`${dir} is not empty (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); use --force to scaffold into it anyway`);
  }
  mkdirSync(target, { recursive: true });
  const name = packageName(target);
  const dependency = lakeforgeDependency(opts.lakeforge);
  // npm never packs a file named .gitignore, so the template holds it as `gitignore`.
  cpSync(TEMPLATE, target, { recursive: true, force: true });
  renameSync(join(target, 'gitignore'), join(target, '.gitignore'));
  const readme = join(target, 'README.md');
  writeFileSync(readme, readFileSync(readme, 'utf8').replaceAll('{{name}}', name));
  const pkg = {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    scripts: { worker: 'lakeforge worker', validate: 'lakeforge validate pipelines/example.yaml', start: 'lakeforge run pipelines/example.yaml --wait' },
    dependencies: { lakeforge: dependency },
  };
  writeFileSync(join(target, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  print(`✔ created lakeforge project ${name} in ${target}`);
  for (const f of [...filesUnder(TEMPLATE).map((f) => (f === 'gitignore' ? '.gitignore' : f)), 'package.json'].sort()) print(`  ${f}`);
  print('');
  print('next:');
  if (resolve(process.cwd()) !== target) print(`  cd ${relative(process.cwd(), target) || '.'}`);
  print('  npm install && npx lakeforge setup && npx lakeforge server start && npx lakeforge generate news');
  print('  npx lakeforge worker &');
  print('  npx lakeforge run pipelines/example.yaml --wait');
  return EXIT_OK;
}
