import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { buildManifest, confinePath, openLake, verifyPublished, readManifest, s3ClientConfig, type LakeStorage } from '../activities/lake/index.js';
import { makeGcsLake, makeLocalLake, makeS3Lake, type TestLake } from './fixtures/lake-helpers.js';

function failureType(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof ApplicationFailure ? (err.type ?? undefined) : 'not-an-ApplicationFailure';
  }
  return undefined;
}

describe('path confinement', () => {
  it('accepts plain relative paths', () => {
    expect(confinePath('raw/news/part-0.parquet')).toBe('raw/news/part-0.parquet');
    expect(confinePath('features/x/v1/split=train/')).toBe('features/x/v1/split=train');
  });
  it.each(['', '..', '../x', 'a/../../b', 'a/./b', '/etc/passwd', '~/x', 'a//b', 'a\\..\\b', 'x%2f..%2f..', 'gs://b/x', 'file:///etc', 'a?b', 'a#b', 'a\u0000b', ' a/b'])(
    'refuses %j with BadInput',
    (p) => {
      expect(failureType(() => confinePath(p))).toBe('BadInput');
    },
  );
  it('refuses URIs outside the lake', () => {
    const lake = openLake('file:///tmp/lake-a');
    expect(failureType(() => lake.relative('file:///tmp/lake-ab/x'))).toBe('BadInput');
    expect(failureType(() => lake.relative('file:///tmp/lake-a/../etc'))).toBe('BadInput');
    expect(lake.relative('file:///tmp/lake-a/clean/x')).toBe('clean/x');
    const gs = openLake('gs://bucket/pre', { home: tmpdir() });
    expect(failureType(() => gs.relative('gs://bucket/prefix/x'))).toBe('BadInput');
    expect(failureType(() => openLake('s3://Not_A_Bucket/x', { home: tmpdir() }))).toBe('BadInput');
    expect(failureType(() => openLake('ftp://bucket/x'))).toBe('BadInput');
    const s3 = openLake('s3://bucket/pre', { home: tmpdir(), s3: { region: 'us-east-1' } });
    expect(failureType(() => s3.relative('s3://bucket/prefix/x'))).toBe('BadInput');
    expect(s3.relative('s3://bucket/pre/clean/x')).toBe('clean/x');
  });
});

function defineStorageSuite(name: string, make: () => Promise<TestLake>) {
  describe(`lake storage on ${name}`, () => {
    let tl: TestLake;
    let lake: LakeStorage;
    let scratch: string;
    beforeAll(async () => {
      tl = await make();
      lake = tl.lake;
      scratch = await mkdtemp(join(tmpdir(), 'lakeforge-scratch-'));
    });
    afterAll(async () => {
      await tl?.cleanup();
      await rm(scratch, { recursive: true, force: true });
    });

    it('lists recursively, stats and reads text', async () => {
      await lake.writeText('raw/a/x.txt', 'one');
      await lake.writeText('raw/a/sub/y.txt', 'two!');
      expect((await lake.list('raw/a')).map((o) => [o.path, o.size])).toEqual([['raw/a/sub/y.txt', 4], ['raw/a/x.txt', 3]]);
      expect(await lake.readText('raw/a/x.txt')).toBe('one');
      expect(await lake.stat('raw/a/none')).toBeNull();
      expect(await lake.readText('raw/a/none')).toBeNull();
      expect(await lake.list('raw/none')).toEqual([]);
    });

    it('stages by generation: an unchanged object is not fetched again, a rewritten one is', async () => {
      await lake.writeText('raw/b/data.bin', 'first version');
      const o1 = (await lake.stat('raw/b/data.bin'))!;
      const p1 = await lake.stage(o1);
      expect(await readFile(p1, 'utf8')).toBe('first version');
      expect(await lake.stage(o1)).toBe(p1);
      await new Promise((r) => setTimeout(r, 20));
      await lake.writeText('raw/b/data.bin', 'second version, longer');
      const o2 = (await lake.stat('raw/b/data.bin'))!;
      expect(o2.generation).not.toBe(o1.generation);
      const p2 = await lake.stage(o2);
      expect(await readFile(p2, 'utf8')).toBe('second version, longer');
      if (tl.kind !== 'file') {
        expect(p2).not.toBe(p1);
        expect(p1.startsWith(join(tl.home, 'staging'))).toBe(true);
        // The cache holds the old generation untouched.
        expect(await readFile(p1, 'utf8')).toBe('first version');
      }
    });

    it('publishes data first and the manifest last; a directory without manifest does not exist', async () => {
      const wd = await lake.createWorkDir('clean/p/v1');
      await writeFile(join(wd, 'part-0.parquet'), 'data');
      // Nothing is visible before publishing.
      expect(await lake.list('clean/p')).toEqual([]);
      const m = buildManifest({ version: 'v1', step: 'clean', inputs: [], params: {}, files: [{ path: 'part-0.parquet', rows: 1, bytes: 4, sha256: 'a'.repeat(64) }], schema: [] });
      expect(await lake.publish(wd, 'clean/p/v1', m)).toBe('published');
      expect((await lake.list('clean/p')).map((o) => o.path)).toEqual(['clean/p/v1/_manifest.json', 'clean/p/v1/part-0.parquet']);
      expect((await readManifest(lake, 'clean/p/v1'))?.version).toBe('v1');
      expect((await verifyPublished(lake, 'clean/p/v1', 'v1')).ok).toBe(true);
      expect((await verifyPublished(lake, 'clean/p/v1', 'v2')).ok).toBe(false);
      // A second publisher of the same version finds it complete and keeps it.
      const wd2 = await lake.createWorkDir('clean/p/v1');
      await writeFile(join(wd2, 'part-0.parquet'), 'data');
      expect(await lake.publish(wd2, 'clean/p/v1', m)).toBe('already-published');
      // A file gone missing makes the publication incomplete; publishing again repairs it.
      await lake.removeObject('clean/p/v1/part-0.parquet');
      expect(await verifyPublished(lake, 'clean/p/v1', 'v1')).toMatchObject({ ok: false, reason: 'file part-0.parquet is missing' });
      const wd3 = await lake.createWorkDir('clean/p/v1');
      await writeFile(join(wd3, 'part-0.parquet'), 'data');
      expect(await lake.publish(wd3, 'clean/p/v1', m)).toBe('published');
      expect((await verifyPublished(lake, 'clean/p/v1', 'v1')).ok).toBe(true);
      if (tl.kind === 'file') {
        // No work or trash directories are left behind.
        expect(await readdir(join(new URL(tl.uri).pathname, 'clean', 'p'))).toEqual(['v1']);
      }
    });

    it('does not see a manifest that is not valid JSON', async () => {
      await lake.writeText('clean/torn/v1/_manifest.json', '{"version": "v1", "files": [');
      expect(await readManifest(lake, 'clean/torn/v1')).toBeNull();
    });
  });
}

defineStorageSuite('file://', makeLocalLake);
defineStorageSuite('gs:// (emulator)', () => makeGcsLake(inject('gcsEmulatorHost')));
defineStorageSuite('s3:// (versitygw)', () => makeS3Lake(inject('s3Server')));

describe('S3 client configuration', () => {
  it('takes the endpoint, region and path style the AWS way, options first', () => {
    expect(s3ClientConfig({}, {})).toMatchObject({ forcePathStyle: false, maxAttempts: 3 });
    expect(s3ClientConfig({}, {}).endpoint).toBeUndefined();
    expect(s3ClientConfig({}, {}).region).toBeUndefined(); // the SDK's own chain (profile) decides
    expect(s3ClientConfig({}, { AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'us-west-2' }).region).toBe('eu-west-1');
    expect(s3ClientConfig({}, { AWS_DEFAULT_REGION: 'us-west-2' }).region).toBe('us-west-2');
    // An endpoint override: path-style and us-east-1 unless told otherwise; LAKEFORGE_S3_ENDPOINT before the SDK's variable.
    expect(s3ClientConfig({}, { AWS_ENDPOINT_URL_S3: 'http://b:2' })).toMatchObject({ endpoint: 'http://b:2', forcePathStyle: true, region: 'us-east-1' });
    expect(s3ClientConfig({}, { LAKEFORGE_S3_ENDPOINT: 'http://a:1', AWS_ENDPOINT_URL_S3: 'http://b:2' }).endpoint).toBe('http://a:1');
    expect(s3ClientConfig({}, { LAKEFORGE_S3_ENDPOINT: 'http://a:1', LAKEFORGE_S3_PATH_STYLE: 'false' }).forcePathStyle).toBe(false);
    expect(s3ClientConfig({ endpoint: 'http://c:3', region: 'x-1' }, { LAKEFORGE_S3_ENDPOINT: 'http://a:1' })).toMatchObject({ endpoint: 'http://c:3', region: 'x-1' });
  });
});

describe('GCS failures', () => {
  it('maps an unreachable endpoint to StorageUnavailable (retryable)', async () => {
    const lake = openLake('gs://unreachable-bucket/lake', { home: tmpdir(), gcsApiEndpoint: 'http://127.0.0.1:9' });
    try {
      await lake.list('raw/x');
      throw new Error('expected a failure');
    } catch (err) {
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).type).toBe('StorageUnavailable');
      expect((err as ApplicationFailure).nonRetryable).toBe(false);
    }
  });
});
