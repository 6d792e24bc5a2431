// TLS and API-key options for the client and the workers, built from the environment (certificates made by
// openssl with the cluster's own certificate helper). The handshake itself is tested in cluster.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporalConnectionOptions } from '../activities/common/temporal-connection.js';
import { ensureCertificates } from '../infra/cluster/cluster.mjs';

describe('temporalConnectionOptions', () => {
  let dir: string;
  let tls: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lf-tls-'));
    tls = ensureCertificates(join(dir, 'tls'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('plain connection when no TLS variable is set', () => {
    expect(temporalConnectionOptions({ TEMPORAL_ADDRESS: 'h:1' })).toEqual({ address: 'h:1' });
  });

  it('mTLS from TEMPORAL_TLS_CERT / KEY / CA / SERVER_NAME', async () => {
    const o = temporalConnectionOptions({
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      TEMPORAL_TLS_CERT: join(tls, 'client.pem'), TEMPORAL_TLS_KEY: join(tls, 'client.key'),
      TEMPORAL_TLS_CA: join(tls, 'ca.pem'), TEMPORAL_TLS_SERVER_NAME: 'localhost',
    });
    expect(o.tls).toEqual({
      clientCertPair: { crt: await readFile(join(tls, 'client.pem')), key: await readFile(join(tls, 'client.key')) },
      serverRootCACertificate: await readFile(join(tls, 'ca.pem')),
      serverNameOverride: 'localhost',
    });
    expect(o.apiKey).toBeUndefined();
  });

  it('a certificate without its key, or an unreadable file, is an error naming the variable', () => {
    expect(() => temporalConnectionOptions({ TEMPORAL_TLS_CERT: join(tls, 'client.pem') })).toThrow(/only TEMPORAL_TLS_CERT is set/);
    expect(() => temporalConnectionOptions({ TEMPORAL_TLS_KEY: join(tls, 'client.key') })).toThrow(/only TEMPORAL_TLS_KEY is set/);
    expect(() => temporalConnectionOptions({ TEMPORAL_TLS_CA: join(dir, 'nope.pem') })).toThrow(/TEMPORAL_TLS_CA=.*nope\.pem: cannot read the file \(ENOENT\)/);
  });

  it('TEMPORAL_API_KEY (Temporal Cloud) implies TLS with the system roots', () => {
    expect(temporalConnectionOptions({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'k' })).toEqual({
      address: 'ns.acct.tmprl.cloud:7233', tls: true, apiKey: 'k',
    });
  });
});
