// The example pipelines end to end on an s3:// lake (issue 20), against the real S3 server: real workers, real
// DuckDB, real trainer processes reading their features from and uploading checkpoints and models to S3. Shrunk to
// one epoch so they train in seconds on CPU; what is checked is that every step publishes on S3 and a re-run hits.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DuckDBInstance } from '@duckdb/node-api';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { parse } from 'yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPipeline } from '../sdk/pipelines.js';
import { readManifest, verifyPublished } from '../activities/lake/index.js';
import { quoteLiteral } from '../activities/duckdb/sql.js';
import { generateNer } from '../examples/generate-lib.js';
import { prepareIntentsLake } from '../examples/intents/prepare.js';
import { createPipelineTestEnv, smallSpec, type PipelineTestEnv } from './fixtures/pipeline-env.js';
import { makeS3Lake } from './fixtures/lake-helpers.js';
import { TRAINER_PYTHON } from './fixtures/training-helpers.js';

let env: PipelineTestEnv;
beforeAll(async () => { env = await createPipelineTestEnv({ testLake: await makeS3Lake(inject('s3Server')) }); });
afterAll(async () => { await env?.close(); });

const run = async (spec: unknown, runKey: string) => (await startPipeline(env.server.client, spec as never, { lake: env.lake, queues: env.queues, runKey })).result();

/** Every step's output is a complete publication in the S3 lake. */
async function expectPublished(out: Awaited<ReturnType<typeof run>>) {
  for (const [name, r] of Object.entries(out.steps)) {
    if (name === 'promote') continue; // its result is the champion pointer, not a publication
    expect(r.uri.startsWith('s3://'), name).toBe(true);
    expect((await verifyPublished(env.storage, env.storage.relative(r.uri), r.version)).ok, name).toBe(true);
  }
}

describe('the example pipelines on an s3:// lake (versitygw)', () => {
  it('news.yaml: clean → features → train → evaluate → promote, then every step from cache', async () => {
    await env.run(async () => {
      const out = await run(smallSpec('examples/pipelines/news.yaml'), 's3-news');
      expect(Object.keys(out.steps)).toEqual(['clean', 'features', 'train', 'evaluate', 'promote']);
      expect(out.steps.promote.metrics?.promoted).toBe(1);
      await expectPublished(out);
      const champion = JSON.parse((await env.storage.readText('models/news-bert/champion.json'))!);
      expect(champion.version).toBe(out.steps.train.version);
      // The trainer's checkpoints went to S3 too.
      expect((await env.storage.list('checkpoints')).some((o) => o.path.endsWith('_checkpoint.json'))).toBe(true);
      const again = await run(smallSpec('examples/pipelines/news.yaml'), 's3-news-again');
      for (const name of ['clean', 'features', 'train', 'evaluate']) expect(again.steps[name], name).toMatchObject({ cached: true, version: out.steps[name].version });
    });
  });

  it('news-sql.yaml: the custom SQL step publishes its output on S3 and features read it', async () => {
    await env.run(async () => {
      const out = await run(smallSpec('examples/pipelines/news-sql.yaml'), 's3-news-sql');
      expect(out.steps['long-texts'].uri).toBe(`${env.lake}/short-texts-dropped/news/${out.steps['long-texts'].version}`);
      const m = await readManifest(env.storage, env.storage.relative(out.steps.features.uri));
      expect(m?.inputs).toEqual([out.steps['long-texts'].version]);
      await expectPublished(out);
    });
  });

  it('ner.yaml: a token-classification tagger trained and evaluated from S3', async () => {
    await generateNer({ lake: env.storage, dataset: 'ner', rows: 800, seed: 3 });
    await env.run(async () => {
      const out = await run(smallSpec('examples/pipelines/ner.yaml'), 's3-ner');
      expect(out.steps.evaluate.metrics).toBeDefined();
      await expectPublished(out);
    });
  });

  it('intents.yaml with the shipped MiniLM encoder, then intents-scoring.yaml scores new commands with its champion', async () => {
    await prepareIntentsLake({ lake: env.storage, python: TRAINER_PYTHON, perIntent: 12 });
    // New commands to score: the cleaned training commands' texts under other ids, as a new delivery.
    const tmp = await mkdtemp(join(tmpdir(), 'lakeforge-incoming-'));
    await env.run(async () => {
      const trained = await run(smallSpec('examples/pipelines/intents.yaml'), 's3-intents');
      expect(trained.steps.promote.metrics?.promoted).toBe(1);
      await expectPublished(trained);

      const db = await DuckDBInstance.create(':memory:');
      const conn = await db.connect();
      const parts = await Promise.all((await env.storage.list(env.storage.relative(trained.steps.clean.uri))).filter((o) => o.path.endsWith('.parquet')).map((o) => env.storage.stage(o)));
      const local = join(tmp, 'part-00000.parquet');
      await conn.run(`COPY (SELECT 'new-' || id AS id, text FROM read_parquet([${parts.map(quoteLiteral).join(', ')}]) ORDER BY id LIMIT 120) TO ${quoteLiteral(local)} (FORMAT parquet)`);
      conn.closeSync();
      db.closeSync();
      await env.storage.putFile(local, 'raw/intents-incoming/part-00000.parquet');

      const scoring = smallSpecScoring();
      const scored = await run(scoring, 's3-intents-scoring');
      expect(scored.steps.predict.rows).toBe(scored.steps.clean.rows);
      expect(scored.steps.predict.rows).toBeGreaterThan(100);
      const pm = await readManifest(env.storage, env.storage.relative(scored.steps.predict.uri));
      expect(pm?.inputs).toContain(trained.steps.train.version);
      await expectPublished(scored);
    });
    await rm(tmp, { recursive: true, force: true });
  });
});

/** intents-scoring.yaml as shipped, without the drift gate: a one-epoch model's confidences drift by design. */
function smallSpecScoring() {
  return smallSpecNoTrain('examples/pipelines/intents-scoring.yaml', (spec) => {
    delete spec.steps.find((s: { uses: string }) => s.uses === 'predict').with.maxDrift;
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function smallSpecNoTrain(file: string, over: (spec: any) => void) {
  const spec = parse(readFileSync(file, 'utf8'));
  over(spec);
  return spec;
}
