// vitest global setup: a real S3 server (Versity S3 Gateway v1.8.0 over a POSIX directory, built from the Go module
// proxy and cached like the Temporal CLI) on a free loopback port; its process group is killed and its directory
// removed at the end. Tests create their own buckets through the S3 API, and users (with bucket policies) through
// its admin API.
import type { TestProject } from 'vitest/node';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureGoTool } from '../../infra/tools.mjs';
import { freePort } from '../../infra/temporal/server.mjs';
import { startDaemon, stopGroup } from './daemon.js';

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
  const child = await startDaemon({
    name: 'versitygw', bin, port, logFile,
    args: ['--port', `127.0.0.1:${port}`, '--admin-port', `127.0.0.1:${adminPort}`, '--iam-dir', join(dir, 'iam'), '--region', info.region, '--quiet', 'posix', data],
    env: { ...process.env, ROOT_ACCESS_KEY_ID: info.accessKeyId, ROOT_SECRET_ACCESS_KEY: info.secretAccessKey },
  });
  project.provide('s3Server', info);
  process.stderr.write(`[test] S3 server (versitygw) at ${info.endpoint} (log ${logFile})\n`);
  return async () => {
    await stopGroup(child);
    rmSync(dir, { recursive: true, force: true });
  };
}
