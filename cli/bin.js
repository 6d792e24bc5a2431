#!/usr/bin/env node
// The `lakeforge` executable (package.json bin). The installed package is compiled (infra/pack.mjs): main.js runs on
// plain Node, and tsx is registered only to load a project's lakeforge.config.ts and TypeScript steps
// (cli/project.ts). In a checkout there is no main.js: tsx runs the sources, with no build step.
import { existsSync } from 'node:fs';

if (existsSync(new URL('./main.js', import.meta.url))) {
  const { main } = await import('./main.js');
  await main(process.argv);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('./main.ts');
  await main(process.argv);
}
