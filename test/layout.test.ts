// The folder layering docs/architecture.md promises, checked on the import graph (type-only imports included):
// contracts are pure, the SDK stands without the CLI, the server scripts without either.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '..');

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const rel = join(dir, name);
    if (statSync(join(ROOT, rel)).isDirectory()) return name === 'node_modules' || name === 'template' ? [] : filesUnder(rel);
    return /\.(ts|mts|mjs)$/.test(name) && !name.endsWith('.d.mts') ? [rel] : [];
  });
}

/** The repository files a file imports (with `values`, only imports that survive compilation, not `import type`). */
function importsOf(file: string, values = false): string[] {
  const src = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.ES2022, false);
  const specs: string[] = [];
  const typeOnly = (n: ts.ImportDeclaration | ts.ExportDeclaration) => ts.isImportDeclaration(n)
    ? !!n.importClause && (n.importClause.isTypeOnly || (!n.importClause.name && !!n.importClause.namedBindings && ts.isNamedImports(n.importClause.namedBindings) && n.importClause.namedBindings.elements.every((e) => e.isTypeOnly)))
    : n.isTypeOnly;
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      if (!(values && typeOnly(n))) specs.push(n.moduleSpecifier.text);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      specs.push(n.arguments[0].text);
    } else if (ts.isImportTypeNode(n) && !values && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      specs.push(n.argument.literal.text);
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return specs.filter((s) => s.startsWith('.')).flatMap((spec) => {
    const abs = resolve(ROOT, dirname(file), spec);
    const hit = [abs, abs.replace(/\.js$/, '.ts'), abs.replace(/\.mjs$/, '.mts')].find((p) => existsSync(p) && statSync(p).isFile());
    return hit ? [relative(ROOT, hit)] : [];
  });
}

/** Every file reachable from `roots`, with the chain that reached it. */
function reachable(roots: string[], values = false): Map<string, string[]> {
  const seen = new Map<string, string[]>(roots.map((r) => [r, [r]]));
  const queue = [...roots];
  while (queue.length) {
    const f = queue.shift()!;
    for (const dep of importsOf(f, values)) {
      if (seen.has(dep)) continue;
      seen.set(dep, [...seen.get(f)!, dep]);
      queue.push(dep);
    }
  }
  return seen;
}

function offenders(roots: string[], forbidden: RegExp, values = false): string[] {
  return [...reachable(roots, values)].filter(([f]) => forbidden.test(f)).map(([, chain]) => chain.join(' → '));
}

describe('folder layering', () => {
  it('contracts/ reach only contracts/ and the kinds\' pure declarations, never the worker runtime', () => {
    const roots = filesUnder('contracts');
    expect(roots.length).toBeGreaterThan(5);
    expect(offenders(roots, /^(activities|workers|workflows|cli|sdk|infra)\//)).toEqual([]);
    // What contracts may reach in steps/: the registry and each kind's declaration and params.
    const stepFiles = [...reachable(roots).keys()].filter((f) => f.startsWith('steps/'));
    expect(stepFiles).toContain('steps/registry.ts');
    expect(stepFiles.filter((f) => !/^steps\/(registry|[a-z-]+\/(definition|params|columns|defaults))\.ts$/.test(f))).toEqual([]);
  });

  it('the SDK imports nothing from the CLI', () => {
    expect(offenders(filesUnder('sdk'), /^cli\//)).toEqual([]);
  });

  it('the Temporal server scripts import nothing from the CLI or the SDK', () => {
    expect(offenders(filesUnder('infra/temporal'), /^(cli|sdk)\//)).toEqual([]);
  });

  it('workflow code loads no worker runtime: activities come in as types only (import type)', () => {
    expect(offenders(filesUnder('workflows'), /^(activities|workers|cli|sdk)\/|^steps\/(activities|index|probe|probe-pipeline|partition-activities)\.ts$|\/activity\.ts$/, true)).toEqual([]);
    // The same graph with type imports included does reach them, so the check above is not vacuous.
    expect(offenders(filesUnder('workflows'), /^steps\/activities\.ts$/).length).toBeGreaterThan(0);
  });

  it('the check sees a real import: contracts reach the registry', () => {
    expect(importsOf('contracts/spec.ts')).toContain('steps/registry.ts');
  });
});
