// vitest global setup: a real GCS emulator (fake-gcs-server v1.55.1, built from the Go module proxy and cached
// like the Temporal CLI) on a free loopback port, in memory; its process group is killed at the end.
import type { TestProject } from 'vitest/node';
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureGoTool } from '../../infra/tools.mjs';
import { freePort, portOpen } from '../../infra/temporal/server.mjs';

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
  const out = openSync(logFile, 'a');
  const host = `http://127.0.0.1:${port}`;
  const child = spawn(
    bin,
    ['-scheme', 'http', '-host', '127.0.0.1', '-port', String(port), '-backend', 'memory', '-external-url', host, '-log-level', 'warn'],
    { detached: true, stdio: ['ignore', out, out] },
  );
  child.unref();
  const deadline = Date.now() + 30_000;
  while (!(await portOpen('127.0.0.1', port))) {
    if (child.exitCode !== null) throw new Error(`fake-gcs-server exited with ${child.exitCode}; see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`fake-gcs-server did not listen on ${port} within 30s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  project.provide('gcsEmulatorHost', host);
  process.stderr.write(`[test] GCS emulator (fake-gcs-server) at ${host} (log ${logFile})\n`);
  return async () => {
    try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* already gone */ }
    const end = Date.now() + 5_000;
    while (Date.now() < end) {
      try { process.kill(-child.pid!, 0); } catch { return; }
      await new Promise((r) => setTimeout(r, 100));
    }
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
  };
}
