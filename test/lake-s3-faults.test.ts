// What goes wrong on a real S3 lake (issue 20), against the test S3 server: each fault is a named failure that
// says what to fix, retried only where a retry can help, carries no credential, and publishes nothing half.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { ApplicationFailure } from '@temporalio/common';
import { buildManifest, openLake, verifyPublished, S3Lake, type LakeStorage } from '../activities/lake/index.js';
import { gcLakeAreas } from '../activities/lake/gc-areas.js';
import { createEtlActivities } from '../steps/index.js';
import { failureOf, makeS3Lake, s3TestOptions, testDuckDb, writeRaw, ID_TEXT_LABEL_PARAMS, type TestLake } from './fixtures/lake-helpers.js';
import { startFlakyProxy } from './fixtures/flaky-proxy.js';

const server = inject('s3Server');

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => null, (e) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

/** Neither the secret nor the access key may appear anywhere in what a failure carries. */
function expectNoCredentials(f: ApplicationFailure, ...secrets: string[]) {
  const everything = JSON.stringify({ message: f.message, details: f.details, stack: f.stack, cause: f.cause && { message: f.cause.message, stack: f.cause.stack } });
  for (const s of secrets) expect(everything).not.toContain(s);
}

describe('s3:// lake faults', () => {
  let tl: TestLake;
  let duckdb: DuckDBInstance;
  let conn: DuckDBConnection;
  let tmp: string;
  beforeAll(async () => {
    tl = await makeS3Lake(server);
    ({ duckdb, conn, tmp } = await testDuckDb());
  });
  afterAll(async () => {
    conn?.closeSync();
    duckdb?.closeSync();
    await tl?.cleanup();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const lakeWith = (uri: string, s3: object): LakeStorage => openLake(uri, { home: tl.home, s3: { ...s3TestOptions(server), ...s3 } });

  it('a missing bucket is StorageMisconfigured, not retried, naming the bucket and what to do', async () => {
    const f = await failure(lakeWith('s3://lakeforge-no-such-bucket/lake', {}).list('raw/x'));
    expect(f.type).toBe('StorageMisconfigured');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('S3 bucket "lakeforge-no-such-bucket" does not exist');
    expect(f.message).toContain('create the bucket');
  });

  it('wrong credentials are StorageAccessDenied, not retried, and no credential is in the failure', async () => {
    const wrongSecret = `wrong-${randomUUID()}`;
    const f = await failure(lakeWith(tl.uri, { credentials: { accessKeyId: server.accessKeyId, secretAccessKey: wrongSecret } }).list('raw'));
    expect(f.type).toBe('StorageAccessDenied');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(/S3 rejected the credentials \(SignatureDoesNotMatch\)/);
    expect(f.message).toContain('AWS_ACCESS_KEY_ID');
    expectNoCredentials(f, wrongSecret, server.accessKeyId, server.secretAccessKey);

    const unknownKey = `AKIA${randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase()}`;
    const g = await failure(lakeWith(tl.uri, { credentials: { accessKeyId: unknownKey, secretAccessKey: wrongSecret } }).stat('raw/x'));
    expect(g.type).toBe('StorageAccessDenied');
    expectNoCredentials(g, unknownKey, wrongSecret);
  });

  it('a 403 on one object fails the step naming that object, not retried, and publishes nothing', async () => {
    // A second identity the bucket policy lets do everything except read one raw file.
    const user = `reader${randomUUID().slice(0, 8)}`;
    const secret = randomUUID();
    execFileSync(server.bin, ['admin', '--endpoint-url', server.adminEndpoint, 'create-user', '--access', user, '--secret', secret, '--role', 'user'], {
      env: { ...process.env, ADMIN_ACCESS_KEY_ID: server.accessKeyId, ADMIN_SECRET_ACCESS_KEY: server.secretAccessKey },
    });
    const root = tl.lake as S3Lake;
    const arn = `arn:aws:s3:::${root.bucketName}`;
    await root.client.send(new PutBucketPolicyCommand({
      Bucket: root.bucketName,
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { AWS: [user] }, Action: ['s3:*'], Resource: [arn, `${arn}/*`] },
          { Effect: 'Deny', Principal: { AWS: [user] }, Action: ['s3:GetObject'], Resource: [`${arn}/${root.prefix}/raw/guarded/part-1.parquet`] },
        ],
      }),
    }));
    await writeRaw(conn, tl.lake, 'guarded', 'part-0.parquet', `SELECT range::VARCHAR AS id, 'text ' || range AS text, 'a' AS label FROM range(50)`);
    await writeRaw(conn, tl.lake, 'guarded', 'part-1.parquet', `SELECT (100 + range)::VARCHAR AS id, 'text ' || range AS text, 'b' AS label FROM range(50)`);

    const acts = createEtlActivities({ duckdb, home: tl.home, defaultLake: tl.uri, lakeOptions: { s3: { ...s3TestOptions(server), credentials: { accessKeyId: user, secretAccessKey: secret } } } });
    const f = await failureOf(acts.clean({ lake: tl.uri, dataset: 'guarded', step: 'clean', runId: 'test', inputs: {}, params: ID_TEXT_LABEL_PARAMS as never }));
    expect(f.type).toBe('StorageAccessDenied');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain(`${tl.uri}/raw/guarded/part-1.parquet`);
    expect(f.message).toContain('s3:GetObject');
    expectNoCredentials(f, secret);
    expect(await tl.lake.list('clean/guarded')).toEqual([]);
    expect(await tl.lake.list('rejects/guarded')).toEqual([]);
  });

  it('a network failure in the middle of a multipart upload is retryable, publishes nothing, and gc aborts the upload left behind', async () => {
    const url = new URL(server.endpoint);
    const proxy = await startFlakyProxy({ host: url.hostname, port: Number(url.port) });
    try {
      const viaProxy = lakeWith(tl.uri, { endpoint: proxy.endpoint, partSize: 5 * 1024 * 1024 });
      const dest = 'clean/big/' + 'c'.repeat(24);
      const work = await viaProxy.createWorkDir(dest);
      // Incompressible bytes, so the upload is really 24 MiB (five parts).
      const bytes = Buffer.alloc(24 * 1024 * 1024);
      for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
      await writeFile(join(work, 'part-0.parquet'), bytes);
      const manifest = buildManifest({ version: 'c'.repeat(24), step: 'clean', inputs: [], params: {}, files: [{ path: 'part-0.parquet', rows: 1, bytes: bytes.length, sha256: 'a'.repeat(64) }], schema: [] });

      proxy.breakAfter(8 * 1024 * 1024); // the network goes away after the first parts, and stays away
      const f = await failure(viaProxy.publish(work, dest, manifest));
      expect(f.type).toBe('StorageUnavailable');
      expect(f.nonRetryable).toBe(false);
      expect(proxy.down).toBe(true);
      // Nothing is visible: no data object (an uncompleted multipart upload is no object) and no manifest.
      expect(await tl.lake.list(dest)).toEqual([]);
      expect((await verifyPublished(tl.lake, dest, manifest.version)).ok).toBe(false);
      // lib-storage's abort could not reach the server either: the upload is still open, and gc aborts it.
      const root = tl.lake as S3Lake;
      const open = (await root.incompleteUploads()).filter((u) => u.key.endsWith(`${dest}/part-0.parquet`));
      expect(open.length).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 1100));
      const removed = await gcLakeAreas(tl.lake, { ttlMs: 0 });
      expect(removed.filter((e) => e.path.includes('multipart upload')).length).toBe(open.length);
      expect((await root.incompleteUploads()).filter((u) => u.key.endsWith(`${dest}/part-0.parquet`))).toEqual([]);

      // The network back, the retry (a new work directory, as the next activity attempt makes) publishes it whole.
      proxy.heal();
      const again = await viaProxy.createWorkDir(dest);
      await writeFile(join(again, 'part-0.parquet'), bytes);
      expect(await viaProxy.publish(again, dest, manifest)).toBe('published');
      const check = await verifyPublished(tl.lake, dest, manifest.version);
      expect(check.ok).toBe(true);
      const [obj] = (await tl.lake.list(dest, { fingerprints: true })).filter((o) => o.path.endsWith('part-0.parquet'));
      expect(obj.size).toBe(bytes.length);
      // A multipart object's fingerprint is S3's composite CRC32C (the parts' checksums), not its ETag.
      expect(obj.fingerprint).toMatch(/^crc32c:[A-Za-z0-9+/=]+-5$/);
    } finally {
      await proxy.close();
    }
  });
});
