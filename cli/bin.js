#!/usr/bin/env node
// The `lakeforge` executable (package.json bin): registers tsx's ESM loader in this process and runs cli/main.ts,
// so `npx lakeforge` works after `npm install` with no build step, and signals reach the CLI directly.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
await main(process.argv);
