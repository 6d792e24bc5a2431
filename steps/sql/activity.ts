// `uses: sql`: a custom query from the repository's sql/ directory over the output of one upstream ETL step.
// The upstream files are the view `input`; the query is one SELECT, its `$name` parameters bound (never spliced
// into the text); the result is published as zstd Parquet at <output>/<dataset>/<version>/, manifest last.
import { join } from 'node:path';
import { BIGINT, BOOLEAN, DOUBLE, LIST, StatementType, VARCHAR, listValue, type DuckDBConnection, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import { ApplicationFailure } from '@temporalio/common';
import { badInput, invalidPipeline } from '../../contracts/failures.js';
import type { StepInput } from '../../contracts/step-input.js';
import type { StepResult } from '../../contracts/step-result.js';
import { buildManifest, datasetName, lakeJoin } from '../../activities/lake/index.js';
import { quoteIdent, quoteLiteral } from '../../activities/duckdb/sql.js';
import { runStatement, type StepControl } from '../../activities/duckdb/run.js';
import { firstLine, parquetRows, parquetSchema, withConnection, type EtlDeps } from '../../activities/duckdb/files.js';
import { classifyDuckdbError } from '../../activities/duckdb/errors.js';
import { runStep, type StepImpl } from '../../activities/kernel/lifecycle.js';
import { describeOutput } from '../../activities/kernel/publish.js';
import { stageObjects } from '../../activities/kernel/stage.js';
import { stepVersion } from '../../activities/kernel/version.js';
import { cleanDefaultsOf, type CleanDefaults } from '../clean/defaults.js';
import type { SqlParamValue } from './params.js';
import { readSqlFile } from './file.js';

/** Bumped whenever this kind changes what it computes; part of the version (docs/design.md#versions). */
export const SQL_STEP_CODE_VERSION = 'sql-1';
const ROW_GROUP_SIZE = 122_880;

type Staged = { local: string; uri: string; path: string };

export const sqlStep: StepImpl<'sql', EtlDeps, { sqlText: string; output: string }> = {
  kind: 'sql',
  async plan({ input, params, deps, upstream }) {
    const { file, params: bound } = params;
    // The pipeline fills `output` with the step's name; a direct call may leave it out.
    const output = params.output ?? input.step;
    // The text the run was submitted with; only a direct call without it reads the file (from deps.sqlRoot).
    const sqlText = params.text ?? readSqlFile(file, deps.sqlRoot).text;
    // The output directory is layout, not content: it stays out of the version.
    const version = stepVersion({ step: 'sql', codeVersion: SQL_STEP_CODE_VERSION, inputs: [upstream.input.manifest.version], params: { file, params: bound }, sql: { [file]: sqlText } });
    return { version, outputs: [lakeJoin(output, datasetName(input.dataset), version)], state: { sqlText, output } };
  },
  async compute({ input, params, deps, lake, control, upstream, version, workDirs: [workDir], state: { sqlText, output } }) {
    const { file, params: bound } = params;
    if (upstream.input.objects.length === 0) throw badInput(`input ${input.inputs.input.uri} has no data files`, { input: input.inputs.input.uri });
    const files: Staged[] = (await stageObjects(lake, control, upstream.input.objects)).map((f) => ({ ...f, path: f.path.slice(upstream.input.rel.length + 1) }));
    return withConnection(deps, async (conn) => {
      const outPath = join(workDir, 'part-0.parquet');
      const rowsOut = await computeSql(conn, control, { file, sqlText, bound, files, outPath });
      const written = await describeOutput(workDir, (p) => parquetRows(conn, control, p), { rows: rowsOut, what: `sql step ${file}` });
      const schema = await parquetSchema(conn, control, outPath);
      const rowsIn = upstream.input.manifest.rows;
      return [buildManifest({
        version,
        step: 'sql',
        inputs: [upstream.input.manifest.version],
        params: { file, params: bound, output },  // not the text: it is in the version, and in the project
        files: written,
        schema,
        extra: {
          output,
          dataset: datasetName(input.dataset),
          sqlFile: file,
          input: input.inputs.input.uri,
          // What a features step downstream reads as the clean step's key and label set, while the columns survive.
          cleanDefaults: carryCleanDefaults(cleanDefaultsOf(upstream.input.manifest), schema),
          metrics: { rows_in: rowsIn, rows_out: rowsOut, rows_removed: Math.max(0, rowsIn - rowsOut) },
        },
      })];
    });
  },
};

export function runSqlStep(deps: EtlDeps, input: StepInput<'sql'>): Promise<StepResult> {
  return runStep(sqlStep, deps, input);
}

/** The key and label set travel on only while the output still has their columns. */
function carryCleanDefaults(d: CleanDefaults, schema: { name: string }[]): CleanDefaults {
  const have = new Set(schema.map((c) => c.name.toLowerCase()));
  return {
    ...(d.key && d.key.every((k) => have.has(k.toLowerCase())) ? { key: d.key } : {}),
    ...(d.labels && have.has(d.labels.column.toLowerCase()) ? { labels: d.labels } : {}),
  };
}

/**
 * The view `input` over the staged files. Hive directories of the upstream layout (`split=train/…`, as the features
 * step writes) become columns from the manifest's paths, so a local and a gs:// lake read the same columns.
 */
export function inputViewSql(files: { local: string; path: string }[]): string {
  const hive = files.map((f) => f.path.split('/').slice(0, -1).map((seg) => /^([^=]+)=(.*)$/.exec(seg)).filter((m): m is RegExpExecArray => !!m));
  const view = `CREATE OR REPLACE TEMP VIEW ${quoteIdent('input')} AS\n`;
  if (hive.every((h) => h.length === 0)) {
    return `${view}SELECT * FROM read_parquet([${files.map((f) => quoteLiteral(f.local)).join(', ')}], hive_partitioning = false, union_by_name = true)`;
  }
  return view + files
    .map((f, i) => `SELECT *${hive[i].map((m) => `, ${quoteLiteral(m[2])} AS ${quoteIdent(m[1])}`).join('')} FROM read_parquet(${quoteLiteral(f.local)}, hive_partitioning = false)`)
    .join('\nUNION ALL BY NAME\n');
}

/** Named parameters with explicit DuckDB types: integers as BIGINT, other numbers DOUBLE, lists by their items. */
export function bindSqlParams(bound: Record<string, SqlParamValue>): { values: Record<string, DuckDBValue>; types: Record<string, DuckDBType> } {
  const values: Record<string, DuckDBValue> = {};
  const types: Record<string, DuckDBType> = {};
  const numberType = (ns: number[]) => (ns.every((n) => Number.isSafeInteger(n)) ? BIGINT : DOUBLE);
  for (const [name, v] of Object.entries(bound)) {
    if (Array.isArray(v)) {
      const strings = v.length === 0 || typeof v[0] === 'string';
      types[name] = LIST(strings ? VARCHAR : numberType(v as number[]));
      values[name] = listValue(v as DuckDBValue[]);
    } else {
      types[name] = typeof v === 'string' ? VARCHAR : typeof v === 'boolean' ? BOOLEAN : numberType([v]);
      values[name] = v;
    }
  }
  return { values, types };
}

/**
 * A failure of the user's query is BadInput naming its file; a failure reading one of our input files names that
 * file instead, and running out of memory is ResourceExhausted naming the setting (duckdb/errors.ts). Cancellation
 * and a full disk are not the query's fault and stay retryable.
 */
async function mapSqlError(err: unknown, file: string, files: Staged[], control: StepControl, conn: DuckDBConnection): Promise<unknown> {
  if (err instanceof ApplicationFailure || control.signal?.aborted) return err;
  const msg = String((err as Error)?.message ?? err);
  if (/INTERRUPT|No space left/i.test(msg)) return err;
  if (/Out of Memory/i.test(msg) || files.some((f) => msg.includes(f.local))) return classifyDuckdbError(err, files, conn, `running ${file}`);
  return badInput(`SQL step ${file} failed: ${firstLine(err)}`, { file });
}

/** Checks the query (one SELECT, columns, parameters), runs it with its parameters bound and writes the Parquet file. */
async function computeSql(
  conn: DuckDBConnection,
  control: StepControl,
  o: { file: string; sqlText: string; bound: Record<string, SqlParamValue>; files: Staged[]; outPath: string },
): Promise<number> {
  const { file, files } = o;
  try {
    await runStatement(conn, control, 'input', inputViewSql(files));
  } catch (err) {
    throw await classifyDuckdbError(err, files, conn);
  }
  try {
    let extracted;
    try {
      extracted = await conn.extractStatements(o.sqlText);
    } catch (err) {
      // DuckDB's parser reports an empty (or comment-only) text as a bare native error.
      if (/native callback/i.test(String((err as Error)?.message))) throw badInput(`SQL step ${file} holds no statement: expected one SELECT over the view input`, { file });
      throw err;
    }
    if (extracted.count !== 1) throw badInput(`SQL step ${file} must hold a single SELECT statement, it has ${extracted.count} statements`, { file });
    const prepared = await extracted.prepare(0);
    let used: string[];
    try {
      if (prepared.statementType !== StatementType.SELECT) {
        throw badInput(`SQL step ${file} must be a SELECT over the view input, not a ${StatementType[prepared.statementType] ?? prepared.statementType} statement`, { file });
      }
      const columns = Array.from({ length: prepared.columnCount }, (_, i) => prepared.columnName(i));
      if (columns.length === 0) throw badInput(`SQL step ${file} selects no columns`, { file });
      const seen = new Set<string>();
      for (const c of columns) {
        if (seen.has(c.toLowerCase())) throw badInput(`SQL step ${file} selects column ${JSON.stringify(c)} more than once`, { file, column: c });
        seen.add(c.toLowerCase());
      }
      used = Array.from({ length: prepared.parameterCount }, (_, i) => prepared.parameterName(i + 1));
    } finally {
      prepared.destroySync();
    }
    const missing = used.filter((n) => !(n in o.bound));
    if (missing.length) throw invalidPipeline(`with.params: ${file} uses ${missing.map((n) => `$${n}`).join(', ')}, which with.params does not set`, { file, field: 'with.params', missing });
    const unused = Object.keys(o.bound).filter((n) => !used.includes(n));
    if (unused.length) {
      throw invalidPipeline(`with.params: ${unused.map((n) => `"${n}"`).join(', ')} ${unused.length > 1 ? 'are' : 'is'} not used by ${file} (it uses: ${used.map((n) => `$${n}`).join(', ') || 'no parameters'})`, { file, field: 'with.params', unused });
    }

    // The query text goes in as written, less a final ";" (trailing comments end at the newline before the ")").
    const { values, types } = bindSqlParams(o.bound);
    // Straight from the query into the work directory: no materialised copy of the result (the kernel checks the
    // file's row count against this one before publishing, and an empty result is refused before anything is).
    const wrote = await runStatement(conn, control, 'query',
      `COPY (\n${o.sqlText.replace(/;(\s|--[^\n]*)*$/, '')}\n) TO ${quoteLiteral(o.outPath)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${ROW_GROUP_SIZE})`, values, types);
    const rows = Number(wrote.rowsChanged);
    if (rows === 0) throw badInput(`SQL step ${file} returned no rows`, { file });
    return rows;
  } catch (err) {
    throw await mapSqlError(err, file, files, control, conn);
  } finally {
    await conn.run(`DROP VIEW IF EXISTS ${quoteIdent('input')}`).catch(() => {});
  }
}
