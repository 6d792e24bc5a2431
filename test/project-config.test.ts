// Project discovery and config checks (sdk/project.ts), and the workflow bundle rule for an installed lakeforge:
// pure file-system work, no server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { findProject, loadProject } from '../sdk/project.js';
import { userRoot } from '../infra/user-root.mjs';
import { excludeFromTsCompile } from '../workers/workflows-path.js';

let tmp: string;
const project = (name: string, config: string, file = 'lakeforge.config.ts') => {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'pipelines', 'nested'), { recursive: true });
  writeFileSync(join(dir, file), config);
  return dir;
};
const failure = async (p: Promise<unknown>) => p.then(() => { throw new Error('expected a failure'); }, (e: Error) => e);

beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'lakeforge-projcfg-')); });
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('lakeforge projects', () => {
  it('findProject walks up to the nearest config; user files resolve against it', () => {
    const dir = project('found', 'export default { steps: [] }');
    expect(findProject(join(dir, 'pipelines', 'nested'))).toEqual({ dir, configFile: join(dir, 'lakeforge.config.ts') });
    expect(userRoot({}, join(dir, 'pipelines'))).toBe(dir);
    expect(userRoot({ LAKEFORGE_PROJECT_DIR: '/elsewhere' }, dir)).toBe('/elsewhere');
    expect(findProject(tmp)).toBeUndefined();
  });

  it('loads a config: the lake made absolute against the project, the steps by name', async () => {
    const dir = project('ok', `export default {
      lake: 'data/lake', queues: { etl: 'q-etl' },
      steps: [{ runtime: 'ts', name: 'my-step', params: { safeParse: () => ({ success: true }) }, run: async () => {} }],
    }`);
    const p = await loadProject(dir);
    expect(p.root).toBe(dir);
    expect(p.lake).toBe(pathToFileURL(join(dir, 'data', 'lake')).href);
    expect([...p.steps.keys()]).toEqual(['my-step']);
  });

  it('a .json config lists step modules by path', async () => {
    const dir = project('json', JSON.stringify({ lake: 'gs://bucket/lake', steps: ['steps/one.mjs'] }), 'lakeforge.config.json');
    mkdirSync(join(dir, 'steps'));
    writeFileSync(join(dir, 'steps', 'one.mjs'), "export default { runtime: 'python', name: 'one', script: 'steps/one.py', params: { safeParse() {} } };");
    const p = await loadProject(dir);
    expect(p.lake).toBe('gs://bucket/lake');
    expect(p.steps.get('one')?.runtime).toBe('python');
  });

  it('a bad config is refused naming the file and the field', async () => {
    const cases: [string, RegExp][] = [
      ["export default { lakes: 'x' }", /lakeforge\.config\.ts: .*lakes/],
      ["export default { steps: [{ runtime: 'ts', name: 'clean', params: { safeParse() {} }, run() {} }] }", /lakeforge\.config\.ts: steps\[0\]\.name: "clean" is a built-in step kind/],
      ["export default { steps: [{ runtime: 'ts', name: 'ok', params: {}, run() {} }] }", /steps\[0\]\.params: a zod schema/],
      ["export default { steps: [{ runtime: 'python', name: 'py', params: { safeParse() {} } }] }", /steps\[0\]\.script/],
      ["export default { steps: [{ runtime: 'ts', name: 'a', params: { safeParse() {} }, run() {} }, { runtime: 'ts', name: 'a', params: { safeParse() {} }, run() {} }] }", /steps\[1\]\.name: duplicate step name "a"/],
      ['export const x = 1', /has no default export/],
      ['export default {', /lakeforge\.config\.ts: cannot load it/],
    ];
    for (const [i, [config, message]] of cases.entries()) {
      const err = await failure(loadProject(project(`bad${i}`, config)));
      expect(err.message, config).toMatch(message);
      expect((err as { exitCode?: number }).exitCode, config).toBe(2);
    }
  });

  it('the workflow bundle compiles an installed lakeforge\'s .ts, never its dependencies', () => {
    const pkg = '/p/node_modules/lakeforge';
    expect(excludeFromTsCompile(`${pkg}/workflows/index.ts`, pkg)).toBe(false);
    expect(excludeFromTsCompile(`${pkg}/node_modules/x/a.ts`, pkg)).toBe(true);
    expect(excludeFromTsCompile('/p/node_modules/other/a.ts', pkg)).toBe(true);
    expect(excludeFromTsCompile('/repo/workflows/index.ts', '/repo')).toBe(false);
  });
});
