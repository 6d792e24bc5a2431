// vitest global setup: one real Temporal dev server (temporal CLI v1.5.1) for the whole run, on free
// loopback ports, in memory, with lakeforge's search attributes; killed (whole process group) at the end.
import type { TestProject } from 'vitest/node';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ensureGoTool } from '../../infra/tools.mjs';
import { WORKFLOWS_PATH } from '../../workers/workflows-path.js';
import { freePort, spawnDevServer } from '../../infra/temporal/server.mjs';
import { stopGroup } from './daemon.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalUiUrl: string;
    workflowBundlePath: string;
  }
}

export default async function setup(project: TestProject) {
  const temporalBin: string = await ensureGoTool('temporal');
  const port: number = await freePort();
  const uiPort: number = await freePort();
  const logFile = join(mkdtempSync(join(tmpdir(), 'lakeforge-temporal-')), 'server.log');
  // Bundle the workflows once for the whole run: webpack takes ~10 s on two cores, per Worker otherwise.
  const bundleDir = mkdtempSync(join(tmpdir(), 'lakeforge-bundle-'));
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: undefined });
  const workflowBundlePath = join(bundleDir, 'workflows.js');
  writeFileSync(workflowBundlePath, code);
  project.provide('workflowBundlePath', workflowBundlePath);
  const child = await spawnDevServer({ temporalBin, port, uiPort, dbFile: null, logFile });
  const address = `127.0.0.1:${port}`;
  project.provide('temporalAddress', address);
  project.provide('temporalUiUrl', `http://127.0.0.1:${uiPort}`);
  process.stderr.write(`[test] Temporal dev server at ${address} (UI :${uiPort}, log ${logFile})\n`);
  return () => stopGroup(child, 10_000);
}
