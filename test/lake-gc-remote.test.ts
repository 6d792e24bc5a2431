// `lakeforge lake gc` on object-store lakes (issue 20): it removes the work areas abandoned attempts leave in the
// lake itself (`_work/` scratch, a publication without its manifest, an unfinished checkpoint upload, and on S3 a
// multipart upload never completed) and nothing else: not a published version, a complete checkpoint, raw data,
// or objects of shapes lakeforge does not write. Run through the real CLI against the GCS emulator and the S3 server.
import { describe, expect, inject, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { buildManifest, S3Lake } from '../activities/lake/index.js';
import { makeGcsLake, makeS3Lake, type TestLake } from './fixtures/lake-helpers.js';

const V = (c: string) => c.repeat(24);

function cliEnv(tl: TestLake): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LAKEFORGE_HOME: tl.home };
  if (tl.kind === 'gs') env.LAKEFORGE_GCS_ENDPOINT = tl.gcsApiEndpoint;
  const s3 = tl.lakeOptions?.s3;
  if (s3) {
    const creds = s3.credentials as { accessKeyId: string; secretAccessKey: string };
    Object.assign(env, { LAKEFORGE_S3_ENDPOINT: s3.endpoint, AWS_REGION: s3.region, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey });
  }
  return env;
}

function gc(tl: TestLake, ...args: string[]): { removed: { path: string; reason: string }[] } {
  const r = spawnSync(process.execPath, ['cli/bin.js', 'lake', 'gc', '--lake', tl.uri, '--json', ...args], { encoding: 'utf8', env: cliEnv(tl) });
  expect(r.status, r.stderr + r.stdout).toBe(0);
  return JSON.parse(r.stdout);
}

describe.each([
  ['gs:// (emulator)', () => makeGcsLake(inject('gcsEmulatorHost'))],
  ['s3:// (versitygw)', () => makeS3Lake(inject('s3Server'))],
] as const)('lake gc on %s', (_label, make) => {
  it('removes abandoned remote work areas once untouched for the TTL, and nothing else', async () => {
    const tl = await make();
    try {
      const { lake } = tl;
      // What must stay: a published version, raw data, a complete checkpoint and its history, the champion
      // pointer, and a user's objects of another shape.
      const wd = await lake.createWorkDir(`clean/ds/${V('a')}`);
      await writeFile(join(wd, 'part-0.parquet'), 'published bytes');
      await lake.publish(wd, `clean/ds/${V('a')}`, buildManifest({ version: V('a'), step: 'clean', inputs: [], params: {}, files: [{ path: 'part-0.parquet', rows: 1, bytes: 15, sha256: 'a'.repeat(64) }], schema: [] }));
      const keep = [
        'raw/ds/part-0.parquet',
        'checkpoints/run-1/train/step-10/model.safetensors',
        'checkpoints/run-1/train/step-10/_checkpoint.json',
        'checkpoints/run-1/train/history-attempt-1.json',
        'models/m/champion.json',
        'exports/2026/12/report.csv',
      ];
      // What gc must remove: work areas of attempts that died for good.
      const abandoned = [
        `_work/clean/ds/${V('b')}/run-x/plan.json`,
        `_work/clean/ds/${V('b')}/run-x/out/part-00000.parquet`,
        `_work/predict/${V('c')}/part-00000.parquet`,
        '_work/rendezvous/run-2/train/g1.json',
        `clean/ds/${V('d')}/part-0.parquet`, // a publication killed before its manifest
        `features/ds/${V('e')}/split=train/part-0.parquet`,
        'checkpoints/run-1/train/step-20/model.safetensors', // an upload killed before _checkpoint.json
      ];
      for (const p of [...keep, ...abandoned]) await lake.writeText(p, `{"at": "${p}"}`);
      let upload: { Key: string; UploadId: string } | undefined;
      if (lake instanceof S3Lake) {
        const Key = `${lake.prefix}/clean/ds/${V('f')}/part-0.parquet`;
        const { UploadId } = await lake.client.send(new CreateMultipartUploadCommand({ Bucket: lake.bucketName, Key }));
        await lake.client.send(new UploadPartCommand({ Bucket: lake.bucketName, Key, UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 1) }));
        upload = { Key, UploadId: UploadId! };
      }
      const everything = async () => (await Promise.all(['raw', 'clean', 'features', 'checkpoints', 'models', 'exports', '_work'].map((d) => lake.list(d)))).flat().map((o) => o.path).sort();
      const before = await everything();

      // Fresh areas may belong to live attempts: with the default TTL (6 h) nothing is touched.
      expect(gc(tl).removed).toEqual([]);
      expect(await everything()).toEqual(before);

      await new Promise((r) => setTimeout(r, 1100)); // object times have one-second resolution
      const dry = gc(tl, '--older-than', '0', '--dry-run').removed.map((e) => e.path).sort();
      const areas = [
        lake.uri(`_work/clean/ds/${V('b')}/run-x`),
        lake.uri(`_work/predict/${V('c')}`),
        lake.uri('_work/rendezvous/run-2'),
        lake.uri(`clean/ds/${V('d')}`),
        lake.uri(`features/ds/${V('e')}`),
        lake.uri('checkpoints/run-1/train/step-20'),
        ...(upload ? [`s3://${(lake as S3Lake).bucketName}/${upload.Key} (multipart upload ${upload.UploadId})`] : []),
      ].sort();
      expect(dry).toEqual(areas);
      expect(await everything()).toEqual(before);

      const removed = gc(tl, '--older-than', '0').removed;
      expect(removed.map((e) => e.path).sort()).toEqual(areas);
      expect(removed.find((e) => e.path.endsWith(`clean/ds/${V('d')}`))?.reason).toMatch(/never got its manifest/);
      expect(await everything()).toEqual([`clean/ds/${V('a')}/_manifest.json`, `clean/ds/${V('a')}/part-0.parquet`, ...keep].sort());
      if (lake instanceof S3Lake) expect(await lake.incompleteUploads()).toEqual([]);
      // A second run finds nothing.
      expect(gc(tl, '--older-than', '0').removed).toEqual([]);
    } finally {
      await tl.cleanup();
    }
  });
});
