// features: the clean (or sql) output → features/<dataset>/<version>/split=<train|val|test>/, through the kernel.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { badInput, invariantViolated, schemaMismatch } from '../../contracts/failures.js';
import { buildManifest, datasetName, type Manifest, type ManifestFile } from '../../activities/lake/index.js';
import { classifyDuckdbError } from '../../activities/duckdb/errors.js';
import { Params, loadSqlDir, quoteIdent, quoteLiteral, renderSql } from '../../activities/duckdb/sql.js';
import { queryRows, runStatement, type StepControl } from '../../activities/duckdb/run.js';
import { parquetRows, parquetSchema, varcharList, withConnection, type EtlDeps } from '../../activities/duckdb/files.js';
import { runStep, type StepImpl } from '../../activities/kernel/lifecycle.js';
import { stageObjects, type StagedFile } from '../../activities/kernel/stage.js';
import { describeOutput } from '../../activities/kernel/publish.js';
import { stepVersion } from '../../activities/kernel/version.js';
import type { StepInput } from '../../contracts/step-input.js';
import type { StepResult } from '../../contracts/step-result.js';
import { cleanDefaultsOf } from '../clean/defaults.js';
import { type FeaturesParams } from './params.js';

/** Bumped whenever this kind changes what it computes; part of the version (docs/design.md#versions). */
export const FEATURES_CODE_VERSION = 'features-1';
export const FEATURES_SQL = loadSqlDir(new URL('./sql/', import.meta.url));
export const SPLITS = ['train', 'val', 'test'] as const;

/** What the features manifest adds to the common fields (docs/design.md#manifests); the trainer reads these. */
export interface FeaturesManifestExtra {
  output: 'features';
  dataset: string;
  task: 'text-classification' | 'token-classification';
  labels: string[];
  labelMap: Record<string, number>;
  splits: Record<(typeof SPLITS)[number], number>;
  splitDirs: Record<(typeof SPLITS)[number], string>;
  columns: string[];
  rowKey: string[] | 'hash';
  metrics: Record<string, number>;
}

export const isToken = (p: FeaturesParams) => p.task === 'token-classification';

export const featuresStep: StepImpl<'features', EtlDeps, { params: FeaturesParams; files: StagedFile[] }> = {
  kind: 'features',
  async plan({ input, params, deps, lake, control, upstream }) {
    const clean = upstream.input;
    checkFeaturesColumns(params, clean.manifest, input.inputs.input.uri);
    const files = await stageObjects(lake, control, clean.objects);
    // The version covers the effective parameters: the label set and key the clean data implies.
    const resolved = await withConnection(deps, (conn) => resolveDefaults(conn, control, params, clean.manifest, files.map((f) => f.local)));
    const version = featuresVersion(clean.manifest.version, resolved);
    return { version, outputs: [`features/${datasetName(input.dataset)}/${version}`], state: { params: resolved, files } };
  },
  async compute({ input, deps, control, upstream, version, workDirs: [workDir], state: { params, files } }) {
    return withConnection(deps, async (conn) => {
      const { splits } = await computeFeatures(conn, control, params, files, workDir);
      const total = Object.values(splits).reduce((a, b) => a + b, 0);
      if (total !== upstream.input.manifest.rows) throw invariantViolated(`features lost rows: clean has ${upstream.input.manifest.rows}, featurized ${total}`);
      const written = await describeOutput(workDir, (p) => parquetRows(conn, control, p), { rows: total, what: 'features' });
      const schema = await parquetSchema(conn, control, join(workDir, 'split=train', 'part-0.parquet'));
      return [featuresManifest({ version, dataset: datasetName(input.dataset), params, input: upstream.input.manifest.version, files: written, schema, splits })];
    });
  },
};

export function runFeatures(deps: EtlDeps, input: StepInput<'features'>): Promise<StepResult> {
  return runStep(featuresStep, deps, input);
}

/**
 * The columns featurizing reads must be in the input (a sql step upstream may have dropped or renamed them):
 * SchemaMismatch naming the column otherwise, before any work.
 */
function checkFeaturesColumns(p: FeaturesParams, input: Manifest, uri: string) {
  const have = new Set(input.schema.map((c) => c.name.toLowerCase()));
  const need = isToken(p) ? [p.tokensColumn, p.tagsColumn] : [p.textColumn, p.labelColumn];
  const key = p.keyColumns ?? cleanDefaultsOf(input).key ?? [];
  for (const c of [...need, ...key]) {
    if (!have.has(c.toLowerCase())) {
      throw schemaMismatch(`features needs column ${JSON.stringify(c)}, which ${uri} does not have (it has: ${input.schema.map((x) => x.name).join(', ')})`, { column: c, input: uri });
    }
  }
}

/** The features manifest (docs/design.md#manifests plus FeaturesManifestExtra), the same whether one activity or many wrote the files. */
export function featuresManifest(o: {
  version: string; dataset: string; params: FeaturesParams; input: string; files: ManifestFile[];
  schema: { name: string; type: string }[]; splits: Record<(typeof SPLITS)[number], number>;
}): Manifest {
  const { version, dataset, params, files, schema, splits } = o;
  const labels = params.labels!;
  const total = splits.train + splits.val + splits.test;
  const extra: FeaturesManifestExtra = {
    output: 'features',
    dataset,
    task: isToken(params) ? 'token-classification' : 'text-classification',
    labels,
    labelMap: Object.fromEntries(labels.map((l, i) => [l, i])),
    splits,
    splitDirs: { train: 'split=train', val: 'split=val', test: 'split=test' },
    columns: schema.map((c) => c.name),
    rowKey: params.keyColumns ?? 'hash',
    metrics: { rows: total, rows_train: splits.train, rows_val: splits.val, rows_test: splits.test, labels: labels.length },
  };
  return buildManifest({ version, step: 'features', inputs: [o.input], params, files, schema, extra: { ...extra } });
}

/** The version of a features step over a clean version with resolved parameters (partitioning is layout: left out). */
export function featuresVersion(cleanVersion: string, params: FeaturesParams): string {
  return stepVersion({ step: 'features', codeVersion: FEATURES_CODE_VERSION, inputs: [cleanVersion], params, sql: FEATURES_SQL });
}

/**
 * Fills what the parameters leave open, so the version covers the effective values: the label set (the clean step's
 * declared set for the same column, else the labels present; sorted, so ids are stable) and the row key (the clean
 * step's key, else a content hash). `partitions` is dropped: it changes the file layout, not the rows.
 * `files` (local copies of the clean files) are only needed, and only asked for, when the labels must be read.
 */
export async function resolveDefaults(
  conn: DuckDBConnection, control: StepControl, p: FeaturesParams, clean: Manifest, localFiles: string[] | (() => Promise<string[]>),
): Promise<FeaturesParams> {
  const cleanParams = cleanDefaultsOf(clean);
  const labelCol = isToken(p) ? p.tagsColumn : p.labelColumn;
  let labels = p.labels;
  if (!labels && cleanParams.labels && cleanParams.labels.column.toLowerCase() === labelCol.toLowerCase()) labels = cleanParams.labels.values;
  if (!labels) {
    const files = typeof localFiles === 'function' ? await localFiles() : localFiles;
    const expr = isToken(p) ? `unnest(${quoteIdent(labelCol)})` : quoteIdent(labelCol);
    const sql = renderSql(FEATURES_SQL['70_distinct_labels.sql'], { labels_expr: expr });
    try {
      labels = (await queryRows(conn, control, 'labels', sql, { files: varcharList(files) })).map((r) => String(r.label));
    } catch (err) {
      throw await classifyDuckdbError(err, files.map((f) => ({ local: f, uri: f })), conn, 'reading the labels');
    }
    if (labels.length === 0) throw badInput('the clean input has no labels');
  }
  const sorted = [...new Set(labels)].sort();
  const keyColumns = p.keyColumns ?? cleanParams.key;
  const task = p.task === 'sequence-classification' ? 'text-classification' : p.task;
  const { partitions: _layoutOnly, ...versioned } = p;
  return { ...versioned, task, labels: sorted, ...(keyColumns ? { keyColumns } : {}) };
}

/** The statements of the features step for given (resolved) parameters: exported so the benchmark runs the very same SQL. */
export function buildFeaturesSql(params: FeaturesParams, files: string[], workDir: string) {
  const T = FEATURES_SQL;
  const q = quoteIdent;
  const p = new Params();
  p.set('files', varcharList(files));
  p.set('labels', varcharList(params.labels!));
  p.set('seed', params.split.seed);
  p.set('train', params.split.train);
  p.set('train_val', params.split.train + params.split.val);
  const token = isToken(params);
  const content = token ? `array_to_string(${q(params.tokensColumn)}, ' ')` : q(params.textColumn);
  // A composite key joins its parts with a unit separator, which text keys practically never contain.
  const rowKey = params.keyColumns
    ? params.keyColumns.length === 1
      ? `CAST(${q(params.keyColumns[0])} AS VARCHAR)`
      : `concat_ws(chr(31), ${params.keyColumns.map((k) => `CAST(${q(k)} AS VARCHAR)`).join(', ')})`
    : `md5(${content})`;
  const examples = token
    ? renderSql(T['20_tokens.sql'], { row_key: rowKey, tokens: q(params.tokensColumn), tags: q(params.tagsColumn) })
    : renderSql(T['20_text.sql'], { row_key: rowKey, text: q(params.textColumn), label: q(params.labelColumn) });
  const position = params.split.stratify
    ? '(row_number() OVER (PARTITION BY label ORDER BY __u, row_key) - 1) / count(*) OVER (PARTITION BY label)'
    : '__u';
  const ctes = [T['10_input.sql'].trim(), examples.trim(), renderSql(T['30_split.sql'], { position }).trim()].join(',\n');
  const unmapped = token ? 'list_count(tag_ids) <> len(tags)' : 'label_id IS NULL';
  return {
    params: p.values,
    featurized: renderSql(T['40_featurized.sql'], { ctes }),
    checks: renderSql(T['50_checks.sql'], { unmapped }),
    writeSplit: (split: string) =>
      renderSql(T['60_write_split.sql'], { path: quoteLiteral(join(workDir, `split=${split}`, 'part-0.parquet')), row_group_size: String(params.rowGroupSize) }),
  };
}

export async function computeFeatures(
  conn: DuckDBConnection,
  control: StepControl,
  params: FeaturesParams,
  files: { local: string; uri: string }[],
  workDir: string,
): Promise<{ splits: Record<(typeof SPLITS)[number], number> }> {
  const token = isToken(params);
  const sql = buildFeaturesSql(params, files.map((f) => f.local), workDir);
  try {
    await runStatement(conn, control, 'featurize', sql.featurized, sql.params);
  } catch (err) {
    throw await classifyDuckdbError(err, files, conn, 'computing features');
  }
  const checks = await queryRows(conn, control, 'checks', sql.checks);
  const splits = { train: 0, val: 0, test: 0 };
  for (const r of checks) {
    if (Number(r.unmapped) > 0) throw badInput(`${r.unmapped} row(s) of split ${r.split} have a ${token ? 'tag' : 'label'} outside the label set ${JSON.stringify(params.labels)}`);
    if (Number(r.null_keys) > 0) throw badInput(`${r.null_keys} row(s) have no row key (NULL in ${JSON.stringify(params.keyColumns)})`);
    splits[r.split as keyof typeof splits] = Number(r.n);
  }
  for (const split of SPLITS) {
    const dir = join(workDir, `split=${split}`);
    await mkdir(dir, { recursive: true });
    const r = await runStatement(conn, control, `write-${split}`, sql.writeSplit(split), { split });
    if (Number(r.rowsChanged) !== splits[split]) throw invariantViolated(`split ${split}: wrote ${r.rowsChanged} of ${splits[split]} rows`);
  }
  await runStatement(conn, control, 'cleanup', 'DROP TABLE IF EXISTS featurized');
  return { splits };
}

