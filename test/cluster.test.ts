// The production path on one machine: the full Temporal server (v1.29.1, built from the Go module proxy) on
// PostgreSQL with mTLS, started by infra/cluster/cluster.mjs into a fresh directory, and lakeforge's own worker
// processes connecting to it with client certificates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { startCluster, stopCluster } from '../infra/cluster/cluster.mjs';

describe('Temporal cluster (PostgreSQL persistence and visibility, mTLS)', () => {
  let dir: string;
  let clientEnv: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lf-cluster-'));
    const t0 = Date.now();
    const started = await startCluster({ env: { ...process.env, LAKEFORGE_CLUSTER_DIR: dir } });
    clientEnv = started.env;
    process.stderr.write(`[measure] cluster (PostgreSQL init + schemas + server) ready in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }, 600_000);

  afterAll(async () => {
    if (dir) {
      await stopCluster({ env: { ...process.env, LAKEFORGE_CLUSTER_DIR: dir } });
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('is idempotent: a second start finds the running cluster', async () => {
    const again = await startCluster({ env: { ...process.env, LAKEFORGE_CLUSTER_DIR: dir } });
    expect(again.started).toBe(false);
    expect(again.env.TEMPORAL_ADDRESS).toBe(clientEnv.TEMPORAL_ADDRESS);
  }, 120_000);

  it('serves a client with a certificate from the cluster CA, and refuses one without', async () => {
    const address = clientEnv.TEMPORAL_ADDRESS;
    const ca = readFileSync(clientEnv.TEMPORAL_TLS_CA);
    const probe = async (opts: Parameters<typeof Connection.connect>[0]) => {
      const conn = await Connection.connect({ ...opts, connectTimeout: '5s' });
      try {
        return await conn.workflowService.getSystemInfo({});
      } finally {
        await conn.close();
      }
    };
    const info = await probe({
      address,
      tls: {
        serverNameOverride: 'localhost',
        serverRootCACertificate: ca,
        clientCertPair: { crt: readFileSync(clientEnv.TEMPORAL_TLS_CERT), key: readFileSync(clientEnv.TEMPORAL_TLS_KEY) },
      },
    });
    expect(info.serverVersion).toBe('1.29.1');
    expect(info.capabilities?.upsertMemo ?? true).toBeTruthy();
    // TLS without a client certificate: the handshake fails (requireClientAuth).
    await expect(probe({ address, tls: { serverNameOverride: 'localhost', serverRootCACertificate: ca } })).rejects.toThrow();
    // Plaintext: no TLS at all.
    await expect(probe({ address })).rejects.toThrow();
  }, 120_000);
});
