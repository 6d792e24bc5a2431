// Deterministic dirty raw datasets for lakeforge's two pipelines, generated inside DuckDB (fast at any row count)
// and written as raw Parquet into `raw/<dataset>/part-NNNNN.parquet` of a lake. The same (rows, seed, files)
// always gives the same rows: every random choice is a hash of (seed, row index, purpose).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { DuckDBInstance } from '@duckdb/node-api';
import { datasetName, type LakeStorage } from '../activities/lake/index.js';
import { quoteLiteral } from '../activities/duckdb/sql.js';

export const TEXT_LABELS = ['business', 'sci_tech', 'sports', 'world'];
export const NER_TAGS = ['B-LOC', 'B-ORG', 'B-PER', 'I-LOC', 'I-ORG', 'I-PER', 'O'];

export interface GenerateOptions {
  lake: LakeStorage;
  dataset: string;
  rows: number;
  seed?: number;
  /** Number of Parquet files; default one per 2M rows. */
  files?: number;
  /** Reuse a connection (benchmarks); otherwise a private in-memory DuckDB is used. */
  conn?: DuckDBConnection;
}

// A random integer in [0, n) from (seed, row, purpose): BIGINT so it can index lists and size ranges.
// Raw files in row groups of modest size, as most writers produce: DuckDB reads a row group's column chunk at once.
const RAW_ROW_GROUP_SIZE = 32_768;

const MACROS = `
CREATE OR REPLACE TEMP MACRO lf_rnd(seed, i, purpose, n) AS CAST(hash(seed, i, purpose) % n AS BIGINT);
CREATE OR REPLACE TEMP MACRO lf_pick(l, seed, i, purpose) AS l[1 + lf_rnd(seed, i, purpose, len(l))];
`;

// The delivery-dirt bands both text generators share, by a row's draw (a column in [0, 1000)): missing text, whitespace
// mess, over-long and near-empty texts; missing, unknown and untrimmed labels. `extra` WHENs go first.
function dirtyTextCase(r: string, o: { overLongRepeat: number; nearEmpty: string; extra?: string[] }): string {
  return `CASE
      ${(o.extra ?? []).map((w) => `${w}
      `).join('')}WHEN ${r} >= 80 AND ${r} < 100 THEN NULL
      WHEN ${r} >= 130 AND ${r} < 200 THEN '  ' || replace(text, ' ', '  ' || chr(9)) || ' ' || chr(10)
      WHEN ${r} >= 255 AND ${r} < 262 THEN repeat(text || ' ', ${o.overLongRepeat})
      WHEN ${r} >= 262 AND ${r} < 270 THEN ${quoteLiteral(o.nearEmpty)}
      ELSE text END`;
}

function dirtyLabelCase(r: string, badLabel: string): string {
  return `CASE
      WHEN ${r} >= 100 AND ${r} < 110 THEN NULL
      WHEN ${r} >= 110 AND ${r} < 130 THEN ${badLabel}
      WHEN ${r} >= 270 AND ${r} < 280 THEN ' ' || label || '  '
      ELSE label END`;
}

/**
 * Text classification rows: id, text, label, rating (VARCHAR, as a CSV-born column often is), updated_at, source.
 * Dirt, by a per-row draw r in [0, 1000): 3% exact duplicates of the previous row, 5% re-deliveries of the previous
 * id with a later timestamp and edited text, 2% NULL text, 1% NULL label, 2% unknown labels, 7% whitespace mess,
 * 3% Unicode mess (decomposed accents, no-break and zero-width spaces, control characters), 1.5% unparseable
 * ratings, 1% out-of-range ratings, 0.7% over-long texts, 0.8% near-empty texts, 1% labels needing a trim.
 */
function textSql(seed: number, start: number, end: number, path: string): string {
  const s = String(Math.trunc(seed));
  return `
COPY (
WITH vocab AS (
  SELECT
    [['market','shares','profit','bank','merger','investor','earnings','stocks','economy','trade','revenue','ceo','startup','tax','inflation'],
     ['software','chip','quantum','research','robot','internet','satellite','battery','algorithm','genome','laptop','network','cloud','data','physics'],
     ['match','goal','season','coach','league','player','score','team','cup','tournament','victory','striker','final','medal','record'],
     ['election','minister','summit','border','treaty','parliament','protest','capital','crisis','embassy','talks','sanctions','refugees','army','vote']] AS by_label,
    ['the','a','of','in','on','after','with','new','says','report','today','amid','over','for','and','first','big','week','plans','talks'] AS common,
    ${'[' + TEXT_LABELS.map((l) => `'${l}'`).join(',') + ']'} AS labels
),
-- A pool of 1024 phrases per label, built once; rows combine two phrases of their label (a join, not a loop
-- per row, so generation runs at millions of rows per minute).
pool AS (
  SELECT li * 1024 + j AS pid,
    array_to_string(list_transform(range(3 + lf_rnd(${s}, li * 1024 + j, 'len', 14)),
      k -> CASE WHEN lf_rnd(${s}, (li * 1024 + j) * 64 + k, 'kind', 3) = 0 THEN lf_pick(common, ${s}, (li * 1024 + j) * 64 + k, 'w')
                ELSE lf_pick(by_label[li + 1], ${s}, (li * 1024 + j) * 64 + k, 'w') END), ' ') AS phrase
  FROM range(4) a(li), range(1024) b(j), vocab
),
rows AS (
  SELECT i, lf_rnd(${s}, i, 'dirt', 1000) AS r,
    -- exact and key duplicates copy the previous row's draws
    CASE WHEN lf_rnd(${s}, i, 'dirt', 1000) < 80 AND i > 0 THEN i - 1 ELSE i END AS src
  FROM range(${start}, ${end}) t(i)
),
base AS (
  SELECT i, r, src, lf_rnd(${s}, src, 'dirt', 1000) AS sr, lf_rnd(${s}, src, 'label', 4) AS li
  FROM rows
),
content AS (
  SELECT i, r, src, sr,
    'doc-' || lpad(CAST(src AS VARCHAR), 10, '0') AS id,
    ${'[' + TEXT_LABELS.map((l) => `'${l}'`).join(',') + ']'}[li + 1] AS label,
    p1.phrase || ' ' || p2.phrase AS text,
    CAST(round(1 + lf_rnd(${s}, src, 'rating', 401) / 100.0, 2) AS VARCHAR) AS rating,
    TIMESTAMP '2024-01-01' + to_seconds(lf_rnd(${s}, src, 'ts', 31536000)) AS updated_at,
    (['web', 'mobile', 'api', NULL])[1 + lf_rnd(${s}, src, 'source', 4)] AS source
  FROM base
  JOIN pool p1 ON p1.pid = li * 1024 + lf_rnd(${s}, src, 'p1', 1024)
  JOIN pool p2 ON p2.pid = li * 1024 + lf_rnd(${s}, src, 'p2', 1024)
),
dirty AS (
  SELECT i, id,
    -- mutations depend on the source row's draw, so an exact duplicate stays exact
    ${dirtyTextCase('sr', { overLongRepeat: 20, nearEmpty: 'ok', extra: [
      "WHEN r >= 30 AND r < 80 THEN text || ' (updated)'",
      "WHEN sr >= 200 AND sr < 230 THEN 'Cafe' || chr(769) || chr(160) || text || chr(8203) || chr(7) || ' naïve'",
    ] })} AS text,
    ${dirtyLabelCase('sr', `(['unknown', 'Sports', 'spam', 'n/a'])[1 + lf_rnd(${s}, src, 'badlabel', 4)]`)} AS label,
    CASE
      WHEN sr >= 230 AND sr < 245 THEN (['n/a', 'four', '', '3,5'])[1 + lf_rnd(${s}, src, 'badrating', 4)]
      WHEN sr >= 245 AND sr < 255 THEN (['999', '-50', '1e6'])[1 + lf_rnd(${s}, src, 'outrating', 3)]
      ELSE rating END AS rating,
    CASE WHEN r >= 30 AND r < 80 THEN updated_at + INTERVAL 1 DAY ELSE updated_at END AS updated_at,
    source
  FROM content
)
SELECT id, text, label, rating, updated_at, source FROM dirty ORDER BY i
) TO ${quoteLiteral(path)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${RAW_ROW_GROUP_SIZE})`;
}

/**
 * Real rows made dirty the way raw deliveries are: `source` is a Parquet file of clean `id, text, label` rows (the
 * intents export); every row is kept once, and by a per-row draw r in [0, 1000) 3% arrive twice (exact duplicates),
 * 5% are re-delivered a day later (same id: the clean step keeps the latest), 2% lose their text, 1% their label, 2%
 * carry a label outside the declared set, 7% arrive with whitespace mess, 1% with a label needing a trim, 0.7% as
 * over-long texts and 0.8% as empty ones. Adds `updated_at`. The clean step's rejects by reason show each kind.
 */
function dirtyRealSql(seed: number, source: string, path: string): string {
  const s = String(Math.trunc(seed));
  return `
COPY (
WITH src AS (SELECT row_number() OVER (ORDER BY id) AS i, id, text, label FROM read_parquet(${quoteLiteral(source)})),
d AS (SELECT *, lf_rnd(${s}, i, 'dirt', 1000) AS r FROM src),
copies AS (
  SELECT *, 0 AS copy FROM d
  UNION ALL SELECT *, 1 FROM d WHERE r < 30
  UNION ALL SELECT *, 2 FROM d WHERE r >= 30 AND r < 80
)
SELECT id,
  ${dirtyTextCase('r', { overLongRepeat: 40, nearEmpty: '' })} AS text,
  ${dirtyLabelCase('r', `(['unknown', 'HassTurnOnn', 'spam', 'n/a'])[1 + lf_rnd(${s}, i, 'badlabel', 4)]`)} AS label,
  TIMESTAMP '2024-01-01' + to_seconds(lf_rnd(${s}, i, 'ts', 31536000)) + CASE WHEN copy = 2 THEN INTERVAL 1 DAY ELSE INTERVAL 0 DAY END AS updated_at
FROM copies ORDER BY i, copy
) TO ${quoteLiteral(path)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${RAW_ROW_GROUP_SIZE})`;
}

/** Writes `source` (clean real rows) into `raw/<dataset>/part-00000.parquet` of the lake with delivery dirt. */
export async function dirtyRealTextRows(opts: { lake: LakeStorage; dataset: string; source: string; seed?: number }): Promise<{ files: string[]; rows: number }> {
  const dataset = datasetName(opts.dataset);
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const tmp = await mkdtemp(join(tmpdir(), 'lakeforge-gen-'));
  try {
    await conn.run(MACROS);
    const local = join(tmp, 'part-00000.parquet');
    await conn.run(dirtyRealSql(opts.seed ?? 42, opts.source, local));
    const rows = Number((await conn.runAndReadAll(`SELECT count(*) FROM read_parquet(${quoteLiteral(local)})`)).getRows()[0][0]);
    const rel = `raw/${dataset}/part-00000.parquet`;
    await opts.lake.putFile(local, rel);
    return { files: [rel], rows };
  } finally {
    await rm(tmp, { recursive: true, force: true });
    conn.closeSync();
    instance.closeSync();
  }
}

/**
 * NER rows: sentence_id, tokens (VARCHAR[]), tags (BIO, VARCHAR[]), updated_at. Each sentence is a run of chunks:
 * a person (2 tokens), an organisation (2 tokens), a location (1 token) or a plain word. Dirt: 3% exact duplicates,
 * 5% re-deliveries by id, 2% tokens/tags of different lengths, 2% unknown tags, 2% NULL tokens, 5% tokens with
 * whitespace mess, 1% over-long sentences, 1% empty sentences.
 */
function nerSql(seed: number, start: number, end: number, path: string): string {
  const s = String(Math.trunc(seed));
  return `
COPY (
WITH vocab AS (
  SELECT ['Alice','Bruno','Chen','Dana','Emeka','Farah','Goran','Hana','Ivan','Julia'] AS first,
         ['Smith','Rossi','Wang','Okafor','Silva','Novak','Kim','Haddad','Berg','Lopez'] AS last,
         ['Acme','Globex','Initech','Umbrella','Hooli','Stark','Wayne','Tyrell'] AS org,
         ['Paris','Lagos','Tokyo','Lima','Oslo','Cairo','Denver','Quito','Hanoi','Perth'] AS loc,
         ['the','met','in','visited','said','on','a','report','from','with','joined','left','today','and','new'] AS words
),
-- A pool of 4096 short tagged fragments, built once; a sentence joins two of them.
chunks AS (
  SELECT j AS pid,
    list_transform(range(2 + lf_rnd(${s}, j, 'len', 7)), k -> CASE lf_rnd(${s}, j * 64 + k, 'kind', 10)
      WHEN 0 THEN {'t': [lf_pick(first, ${s}, j * 64 + k, 'f'), lf_pick(last, ${s}, j * 64 + k, 'l')], 'g': ['B-PER', 'I-PER']}
      WHEN 1 THEN {'t': [lf_pick(org, ${s}, j * 64 + k, 'o'), 'Inc'], 'g': ['B-ORG', 'I-ORG']}
      WHEN 2 THEN {'t': [lf_pick(loc, ${s}, j * 64 + k, 'c')], 'g': ['B-LOC']}
      ELSE {'t': [lf_pick(words, ${s}, j * 64 + k, 'w')], 'g': ['O']} END) AS ch
  FROM range(4096) b(j), vocab
),
pool AS (
  SELECT pid, flatten(list_transform(ch, c -> c.t)) AS tokens, flatten(list_transform(ch, c -> c.g)) AS tags FROM chunks
),
rows AS (
  SELECT i, lf_rnd(${s}, i, 'dirt', 1000) AS r,
    CASE WHEN lf_rnd(${s}, i, 'dirt', 1000) < 80 AND i > 0 THEN i - 1 ELSE i END AS src
  FROM range(${start}, ${end}) t(i)
),
content AS (
  SELECT i, r, src, lf_rnd(${s}, src, 'dirt', 1000) AS sr,
    'sent-' || lpad(CAST(src AS VARCHAR), 10, '0') AS sentence_id,
    list_concat(p1.tokens, p2.tokens) AS tokens,
    list_concat(p1.tags, p2.tags) AS tags,
    TIMESTAMP '2024-01-01' + to_seconds(lf_rnd(${s}, src, 'ts', 31536000)) AS updated_at
  FROM rows
  JOIN pool p1 ON p1.pid = lf_rnd(${s}, src, 'p1', 4096)
  JOIN pool p2 ON p2.pid = lf_rnd(${s}, src, 'p2', 4096)
),
dirty AS (
  SELECT i, sentence_id,
    CASE
      WHEN sr >= 80 AND sr < 100 THEN NULL
      WHEN sr >= 100 AND sr < 150 THEN list_transform(tokens, t -> ' ' || t || chr(9))
      WHEN sr >= 150 AND sr < 160 THEN flatten(list_transform(range(30), k -> tokens))
      WHEN sr >= 160 AND sr < 170 THEN CAST([] AS VARCHAR[])
      WHEN r >= 30 AND r < 80 THEN list_concat(tokens, ['.'])
      ELSE tokens END AS tokens,
    CASE
      WHEN sr >= 150 AND sr < 160 THEN flatten(list_transform(range(30), k -> tags))
      WHEN sr >= 160 AND sr < 170 THEN CAST([] AS VARCHAR[])
      WHEN sr >= 170 AND sr < 190 THEN tags[1:len(tags) - 1]
      WHEN sr >= 190 AND sr < 210 THEN list_concat(tags[1:len(tags) - 1], ['B-MISC'])
      WHEN r >= 30 AND r < 80 THEN list_concat(tags, ['O'])
      ELSE tags END AS tags,
    CASE WHEN r >= 30 AND r < 80 THEN updated_at + INTERVAL 1 DAY ELSE updated_at END AS updated_at
  FROM content
)
SELECT sentence_id, tokens, tags, updated_at FROM dirty ORDER BY i
) TO ${quoteLiteral(path)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${RAW_ROW_GROUP_SIZE})`;
}

async function generate(kind: 'text' | 'ner', opts: GenerateOptions): Promise<{ files: string[]; rows: number }> {
  const dataset = datasetName(opts.dataset);
  const seed = opts.seed ?? 42;
  const nFiles = Math.max(1, opts.files ?? Math.ceil(opts.rows / 2_000_000));
  let instance: DuckDBInstance | undefined;
  let conn = opts.conn;
  if (!conn) {
    instance = await DuckDBInstance.create(':memory:');
    conn = await instance.connect();
  }
  const tmp = await mkdtemp(join(tmpdir(), 'lakeforge-gen-'));
  const written: string[] = [];
  try {
    await conn.run(MACROS);
    for (let f = 0; f < nFiles; f++) {
      const start = Math.floor((opts.rows * f) / nFiles);
      const end = Math.floor((opts.rows * (f + 1)) / nFiles);
      const local = join(tmp, `part-${String(f).padStart(5, '0')}.parquet`);
      await conn.run(kind === 'text' ? textSql(seed, start, end, local) : nerSql(seed, start, end, local));
      const rel = `raw/${dataset}/part-${String(f).padStart(5, '0')}.parquet`;
      await opts.lake.putFile(local, rel);
      written.push(rel);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
    if (instance) {
      conn.closeSync();
      instance.closeSync();
    }
  }
  return { files: written, rows: opts.rows };
}

export const generateTextClassification = (opts: GenerateOptions) => generate('text', opts);
export const generateNer = (opts: GenerateOptions) => generate('ner', opts);

/** Clean parameters matching the text classification generator (what a dataset spec would declare). */
export const TEXT_CLEAN_PARAMS = {
  columns: [
    { name: 'id', type: 'VARCHAR', nulls: 'drop' },
    { name: 'text', type: 'VARCHAR', nulls: 'drop' },
    { name: 'label', type: 'VARCHAR', nulls: 'drop' },
    { name: 'rating', type: 'DOUBLE', nulls: { fill: 3 } },
    { name: 'updated_at', type: 'TIMESTAMP' },
    { name: 'source', type: 'VARCHAR', required: false, nulls: { fill: 'unknown' } },
  ],
  key: ['id'],
  timestamp: 'updated_at',
  labels: { column: 'label', values: TEXT_LABELS },
  outliers: [
    { method: 'range', column: 'rating', min: 1, max: 5 },
    { method: 'length', column: 'text', min: 5, max: 2000 },
  ],
} as const;

export const TEXT_FEATURES_PARAMS = { task: 'text-classification', textColumn: 'text', labelColumn: 'label' } as const;

export const NER_CLEAN_PARAMS = {
  columns: [
    { name: 'sentence_id', type: 'VARCHAR', nulls: 'drop' },
    { name: 'tokens', type: 'VARCHAR[]', nulls: 'drop' },
    { name: 'tags', type: 'VARCHAR[]', nulls: 'drop' },
    { name: 'updated_at', type: 'TIMESTAMP' },
  ],
  key: ['sentence_id'],
  timestamp: 'updated_at',
  labels: { column: 'tags', values: NER_TAGS },
  outliers: [{ method: 'length', column: 'tokens', min: 1, max: 200 }],
  sameLength: [['tokens', 'tags']],
} as const;

export const NER_FEATURES_PARAMS = { task: 'token-classification', tokensColumn: 'tokens', tagsColumn: 'tags' } as const;
