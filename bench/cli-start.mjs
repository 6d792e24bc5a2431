#!/usr/bin/env node
// The CLI's start time (issue 25): `lakeforge --help` and `lakeforge validate <spec>` from installed packages,
// interleaved, median of N runs. Each argument is `name=path/to/node_modules/lakeforge`; the first is the baseline.
//   node bench/cli-start.mjs [--runs 7] old=/tmp/plain-old/node_modules/lakeforge new=/tmp/plain/node_modules/lakeforge
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
const ri = argv.indexOf('--runs');
const runs = ri >= 0 ? Number(argv.splice(ri, 2)[1]) : 7;
const cases = argv.map((a) => { const [name, pkg] = a.split('='); return { name, pkg }; });
if (cases.length < 2) throw new Error('give at least two name=path/to/node_modules/lakeforge');
const spec = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'cli', 'news-etl.yaml');
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
for (const args of [['--help'], ['validate', spec]]) {
  const times = new Map(cases.map((c) => [c.name, []]));
  for (let i = 0; i < runs; i++) {
    for (const c of cases) {
      const t = process.hrtime.bigint();
      const r = spawnSync(process.execPath, [join(c.pkg, 'cli', 'bin.js'), ...args], { cwd: dirname(dirname(c.pkg)), stdio: 'ignore' });
      if (r.status !== 0) throw new Error(`${c.name}: lakeforge ${args.join(' ')} exited ${r.status}`);
      times.get(c.name).push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  }
  const base = median(times.get(cases[0].name));
  const row = cases.map((c) => { const m = median(times.get(c.name)); return `${c.name} ${m.toFixed(0)} ms (${(m / base).toFixed(2)}×)`; });
  console.log(`lakeforge ${args[0]}: ${row.join(', ')}  [median of ${runs}]`);
}
