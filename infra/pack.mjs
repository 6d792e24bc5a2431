#!/usr/bin/env node
// Packs lakeforge the way TypeScript libraries ship: compiled ESM JavaScript with .d.ts and source maps, so plain
// `node`, a tsc-compiled app or a bundler can `import 'lakeforge'` (no tsx at run time for lakeforge's own code).
//
//   node infra/pack.mjs [--pack-destination DIR]     (npm run pack)  → prints the tarball's file name
//
// The package's `files` are copied into a staging directory and compiled there (tsconfig.build.json), never beside
// the sources, where tsx and vitest would pick stale .js up; the staged package.json points `exports` at the built
// files. The .ts sources ship too, for the source maps.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** `from.ts` → `from.js` / `from.d.ts` in an exports map. */
function builtExports(exports) {
  const out = {};
  for (const [key, target] of Object.entries(exports)) {
    if (typeof target === 'string') { out[key] = target; continue; }
    out[key] = { types: target.types.replace(/\.ts$/, '.d.ts'), default: target.default.replace(/\.ts$/, '.js') };
  }
  return out;
}

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}) in ${cwd}\n${r.stdout ?? ''}`);
  return r.stdout;
}

export function pack({ destination = REPO, log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
  const stage = mkdtempSync(join(tmpdir(), 'lakeforge-pack-'));
  try {
    const skip = (p) => /[\\/]__pycache__([\\/]|$)|\.pyc$|[\\/]node_modules([\\/]|$)/.test(p);
    for (const entry of pkg.files.filter((f) => !f.startsWith('!'))) {
      const from = join(REPO, entry);
      if (existsSync(from)) cpSync(from, join(stage, entry), { recursive: true, filter: (src) => !skip(src.slice(REPO.length)) });
    }
    for (const f of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md']) cpSync(join(REPO, f), join(stage, f));
    // Types for the compile; the link is removed before packing.
    symlinkSync(join(REPO, 'node_modules'), join(stage, 'node_modules'), 'dir');
    log('[lakeforge] compiling the package (tsc -p tsconfig.build.json)…');
    run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], stage);
    rmSync(join(stage, 'node_modules'));
    rmSync(join(stage, 'tsconfig.build.json'));
    // A single .ts file in `files` ships with what it compiles to.
    const files = pkg.files.flatMap((f) => (/\.ts$/.test(f) && !f.endsWith('.d.ts') ? [f, ...['.js', '.js.map', '.d.ts'].map((e) => f.replace(/\.ts$/, e))] : [f]));
    const staged = { ...pkg, files, exports: builtExports(pkg.exports), types: pkg.types.replace(/\.ts$/, '.d.ts') };
    // The staged package runs compiled: no scripts (prepack would refuse), no dev tooling.
    delete staged.scripts;
    delete staged.devDependencies;
    writeFileSync(join(stage, 'package.json'), `${JSON.stringify(staged, null, 2)}\n`);
    log('[lakeforge] packing…');
    const out = run('npm', ['pack', '--silent', '--pack-destination', resolve(destination)], stage);
    return out.trim().split('\n').pop();
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args[0] === '--refuse') {
    // package.json's prepack: a plain `npm pack` here would ship TypeScript only (usable from tsx alone).
    process.stderr.write('lakeforge is packed compiled, from a staging copy: run `npm run pack` (node infra/pack.mjs) instead of `npm pack`.\n');
    process.exit(1);
  }
  const i = args.indexOf('--pack-destination');
  process.stdout.write(`${pack({ destination: i >= 0 ? args[i + 1] : REPO })}\n`);
}
