// vitest global setup: a real GCS emulator (fake-gcs-server v1.55.1, built from the Go module proxy and cached
// like the Temporal CLI) on a free loopback port, in memory; its process group is killed at the end.
import type { TestProject } from 'vitest/node';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureGoTool } from '../../infra/tools.mjs';
import { freePort } from '../../infra/temporal/server.mjs';
import { startDaemon, stopGroup } from './daemon.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `http://127.0.0.1:<port>`: pass as `apiEndpoint` (or STORAGE_EMULATOR_HOST) to @google-cloud/storage. */
    gcsEmulatorHost: string;
  }
}

export default async function setup(project: TestProject) {
  const bin: string = await ensureGoTool('fake-gcs-server');
  const port: number = await freePort();
  const logFile = join(mkdtempSync(join(tmpdir(), 'lakeforge-gcs-')), 'fake-gcs-server.log');
  const host = `http://127.0.0.1:${port}`;
  const child = await startDaemon({
    name: 'fake-gcs-server', bin, port, logFile,
    args: ['-scheme', 'http', '-host', '127.0.0.1', '-port', String(port), '-backend', 'memory', '-external-url', host, '-log-level', 'warn'],
  });
  project.provide('gcsEmulatorHost', host);
  process.stderr.write(`[test] GCS emulator (fake-gcs-server) at ${host} (log ${logFile})\n`);
  return () => stopGroup(child);
}
