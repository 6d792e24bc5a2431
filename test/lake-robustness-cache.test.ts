// Cache validation (issue 13): a published file overwritten with other bytes of the same size is not a cache hit,
// on a local lake (mtime + inode recorded in the manifest), on gs:// (CRC32C) and on s3:// (S3's CRC32C checksum), and a downstream
// step refuses it as input instead of reading the changed bytes.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { ApplicationFailure } from '@temporalio/common';
import { createEtlActivities, type EtlDeps } from '../steps/index.js';
import { readManifest, verifyPublished } from '../activities/lake/index.js';
import { makeGcsLake, makeLocalLake, makeS3Lake, testDuckDb, writeRaw, ID_TEXT_LABEL_PARAMS, type TestLake } from './fixtures/lake-helpers.js';

const PARAMS = ID_TEXT_LABEL_PARAMS;
const FEATURES = { task: 'sequence-classification', textColumn: 'text', labelColumn: 'label' };

for (const [name, make] of [['local', makeLocalLake], ['gcs', () => makeGcsLake(inject('gcsEmulatorHost'))], ['s3', () => makeS3Lake(inject('s3Server'))]] as const) {
  describe(`cache validation on a ${name} lake`, () => {
    let tl: TestLake;
    let duckdb: DuckDBInstance;
    let conn: DuckDBConnection;
    let tmp: string;
    let deps: EtlDeps;
    beforeAll(async () => {
      tl = await make();
      ({ duckdb, conn, tmp } = await testDuckDb());
      deps = { duckdb, home: tl.home, defaultLake: tl.uri, gcsApiEndpoint: tl.gcsApiEndpoint, lakeOptions: tl.lakeOptions };
    });
    afterAll(async () => {
      conn?.closeSync();
      duckdb?.closeSync();
      await tl?.cleanup();
      if (tmp) await rm(tmp, { recursive: true, force: true });
    });

    it('does not serve a file overwritten with other bytes of the same size as a hit', async () => {
      const acts = createEtlActivities(deps);
      await writeRaw(conn, tl.lake, 'ow', 'part-0.parquet', `SELECT range::VARCHAR AS id, 'text number ' || range AS text, CASE WHEN range % 2 = 0 THEN 'a' ELSE 'b' END AS label FROM range(200)`);
      const first = await acts.clean({ lake: tl.uri, dataset: 'ow', step: 'clean', runId: 'test', inputs: {}, params: PARAMS as never });
      const rel = tl.lake.relative(first.uri);
      const m = (await readManifest(tl.lake, rel))!;
      expect(m.files[0].generation).toBeTruthy();
      expect((await acts.clean({ lake: tl.uri, dataset: 'ow', step: 'clean', runId: 'test', inputs: {}, params: PARAMS as never })).cached).toBe(true);

      // Same size, different bytes: flip one byte in the middle of the data.
      const part = `${rel}/part-0.parquet`;
      const local = join(tmp, 'copy.parquet');
      const bytes = await readFile(await tl.lake.stage((await tl.lake.stat(part))!));
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      await writeFile(local, bytes);
      if (tl.kind === 'file') await writeFile((tl.lake as unknown as { abs(r: string): string }).abs(part), bytes); // in place: same inode
      else await tl.lake.putFile(local, part);
      expect((await tl.lake.stat(part))!.size).toBe(m.files[0].bytes);
      const check = await verifyPublished(tl.lake, rel, first.version);
      expect(check).toMatchObject({ ok: false, reason: 'file part-0.parquet was rewritten after it was published' });

      // Downstream refuses it instead of reading the changed bytes...
      const err = await acts.features({ lake: tl.uri, dataset: 'ow', step: 'features', runId: 'test', inputs: { input: first }, params: FEATURES as never }).catch((e) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err.type).toBe('BadInput');
      expect(err.message).toContain('was rewritten after it was published');
      // ...and the step recomputes (not a hit), publishing the right bytes again.
      const again = await acts.clean({ lake: tl.uri, dataset: 'ow', step: 'clean', runId: 'test', inputs: {}, params: PARAMS as never });
      expect(again).toMatchObject({ cached: false, version: first.version, rows: 200 });
      expect((await verifyPublished(tl.lake, rel, first.version)).ok).toBe(true);
    });
  });
}
