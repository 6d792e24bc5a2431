// vitest global setup: a real S3 server (Versity S3 Gateway v1.8.0 over a POSIX directory, built from the Go module
// proxy and cached like the Temporal CLI) on a free loopback port; its process group is killed and its directory
// removed at the end. Tests create their own buckets through the S3 API, and users (with bucket policies) through
// its admin API.
import type { TestProject } from 'vitest/node';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureGoTool } from '../../infra/tools.mjs';
import { freePort, portOpen } from '../../infra/temporal/server.mjs';

export interface S3ServerInfo {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The gateway's admin API (users), for tests that need a second, restricted identity. */
  adminEndpoint: string;
  bin: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3Server: S3ServerInfo;
  }
}

export default async function setup(project: TestProject) {
  const bin: string = await ensureGoTool('versitygw');
  const port: number = await freePort();
  let adminPort: number = await freePort();
  while (adminPort === port) adminPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'lakeforge-s3-'));
  const data = join(dir, 'data');
  mkdirSync(data);
  const logFile = join(dir, 'versitygw.log');
  const out = openSync(logFile, 'a');
  const info: S3ServerInfo = {
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    accessKeyId: 'lakeforgetest',
    secretAccessKey: randomBytes(18).toString('hex'),
    adminEndpoint: `http://127.0.0.1:${adminPort}`,
    bin,
  };
  mkdirSync(join(dir, 'iam'));
  // The root credentials go through the environment, not the command line (visible in `ps`).
  const child = spawn(bin, ['--port', `127.0.0.1:${port}`, '--admin-port', `127.0.0.1:${adminPort}`, '--iam-dir', join(dir, 'iam'), '--region', info.region, '--quiet', 'posix', data], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, ROOT_ACCESS_KEY_ID: info.accessKeyId, ROOT_SECRET_ACCESS_KEY: info.secretAccessKey },
  });
  child.unref();
  const deadline = Date.now() + 30_000;
  while (!(await portOpen('127.0.0.1', port))) {
    if (child.exitCode !== null) throw new Error(`versitygw exited with ${child.exitCode}; see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`versitygw did not listen on ${port} within 30s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  project.provide('s3Server', info);
  process.stderr.write(`[test] S3 server (versitygw) at ${info.endpoint} (log ${logFile})\n`);
  return async () => {
    try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* already gone */ }
    const end = Date.now() + 5_000;
    while (Date.now() < end) {
      try { process.kill(-child.pid!, 0); } catch { break; }
      await new Promise((r) => setTimeout(r, 100));
    }
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
    rmSync(dir, { recursive: true, force: true });
  };
}
