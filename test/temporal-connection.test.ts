// TLS and API-key options for the client and the workers, built from the environment (certificates made by
// openssl with the cluster's own certificate helper). The handshake itself is tested in cluster.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

  it('empty variables (a Kubernetes env from an empty Secret key) count as unset', () => {
    expect(temporalConnectionOptions({
      TEMPORAL_ADDRESS: 'h:1', TEMPORAL_TLS_CERT: '', TEMPORAL_TLS_KEY: '', TEMPORAL_TLS_CA: '', TEMPORAL_TLS_SERVER_NAME: '', TEMPORAL_API_KEY: '',
    })).toEqual({ address: 'h:1' });
  });

  it('server-authenticated TLS from TEMPORAL_TLS_CA alone; TEMPORAL_TLS_SERVER_NAME alone still means TLS', async () => {
    expect(temporalConnectionOptions({ TEMPORAL_ADDRESS: 'h:1', TEMPORAL_TLS_CA: join(tls, 'ca.pem') }).tls)
      .toEqual({ serverRootCACertificate: await readFile(join(tls, 'ca.pem')) });
    expect(temporalConnectionOptions({ TEMPORAL_ADDRESS: 'h:1', TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' }).tls)
      .toEqual({ serverNameOverride: 'temporal.internal' });
  });

  it('a bad address, a non-PEM file, or an API key with a newline is an error naming the variable', async () => {
    expect(() => temporalConnectionOptions({ TEMPORAL_ADDRESS: 'http://temporal:7233' })).toThrow(/^TEMPORAL_ADDRESS: must be host:port/);
    expect(temporalConnectionOptions({ TEMPORAL_ADDRESS: '[::1]:7233' }).address).toBe('[::1]:7233');
    const b64 = join(dir, 'client.b64');
    await writeFile(b64, (await readFile(join(tls, 'client.pem'))).toString('base64'));
    expect(() => temporalConnectionOptions({ TEMPORAL_TLS_CERT: b64, TEMPORAL_TLS_KEY: join(tls, 'client.key') }))
      .toThrow(/^TEMPORAL_TLS_CERT=.*client\.b64: not a PEM file/);
    expect(() => temporalConnectionOptions({ TEMPORAL_API_KEY: 'k\n' })).toThrow(/TEMPORAL_API_KEY contains whitespace/);
  });

  it('mTLS and an API key together', async () => {
    const o = temporalConnectionOptions({
      TEMPORAL_ADDRESS: 'h:1', TEMPORAL_API_KEY: 'k', TEMPORAL_TLS_CERT: join(tls, 'client.pem'), TEMPORAL_TLS_KEY: join(tls, 'client.key'),
    });
    expect(o.apiKey).toBe('k');
    expect(o.tls).toEqual({ clientCertPair: { crt: await readFile(join(tls, 'client.pem')), key: await readFile(join(tls, 'client.key')) } });
  });

  it('TEMPORAL_API_KEY (Temporal Cloud) implies TLS with the system roots', () => {
    expect(temporalConnectionOptions({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'k' })).toEqual({
      address: 'ns.acct.tmprl.cloud:7233', tls: true, apiKey: 'k',
    });
  });
});
