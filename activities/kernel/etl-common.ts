import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { listValue } from '@duckdb/node-api';
import { ApplicationFailure } from '@temporalio/common';
import { badInput, invalidPipeline } from '../../contracts/failures.js';
import { loadConfig } from '../common/config.js';
import type { StepResult } from '../../contracts/step-result.js';
import { openLake, verifyPublished, type LakeStorage, type Manifest, type ObjectInfo, MANIFEST_FILE, lakeJoin } from '../lake/index.js';
import { queryRows, type StepControl } from '../duckdb/run.js';

/** What the ETL activities are built with: one DuckDB instance per worker process, and where the lake is. */
export interface EtlDeps {
  duckdb: DuckDBInstance;
  /** LAKEFORGE_HOME, for the staging cache; default from the environment. */
  home?: string;
  /** The lake used when an input names none; default LAKEFORGE_LAKE. */
  defaultLake?: string;
  /** GCS endpoint (an emulator); default STORAGE_EMULATOR_HOST. */
  gcsApiEndpoint?: string;
  /** Replaces the Temporal activity context (heartbeat, cancellation); default: Context.current() when there is one. */
  control?: () => StepControl;
  /** The directory whose sql/ holds the files of `uses: sql` steps; default the repository root. */
  sqlRoot?: string;
}

/** Sorted-key JSON, so equal values hash equally whatever order their keys were written in. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** DESIGN.md §2: version = hash(input versions, parameters, SQL text, step code version). */
export function stepVersion(fields: { step: string; codeVersion: string; inputs: string[]; params: unknown; sql: Record<string, string> }): string {
  return sha256Hex(canonicalJson(fields)).slice(0, 24);
}

/** The version of raw input: every object's path, size and generation (a rewritten file changes it). */
export function rawInputVersion(objects: ObjectInfo[]): string {
  return `raw-${sha256Hex(canonicalJson(objects.map((o) => [o.path, o.size, o.generation]))).slice(0, 24)}`;
}

/** Validates activity input; bad parameters are InvalidPipeline (not retried), naming the offending field. */
export function parseInput<T extends z.ZodTypeAny>(schema: T, input: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(input);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw invalidPipeline(`invalid ${what} input: ${msg}`);
  }
  return r.data;
}

export function openStepLake(deps: EtlDeps, lake: string | undefined): LakeStorage {
  const home = deps.home ?? loadConfig().home;
  return openLake(lake ?? deps.defaultLake ?? loadConfig().lake, { home, gcsApiEndpoint: deps.gcsApiEndpoint });
}

/** A dedicated connection for one activity run: temp tables are private to it and no statement ever shares it. */
export async function withConnection<T>(deps: EtlDeps, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const conn = await deps.duckdb.connect();
  try {
    // Progress tracking lets heartbeats carry a percentage; nothing is printed.
    await conn.run('SET enable_progress_bar = true');
    await conn.run('SET enable_progress_bar_print = false');
    return await fn(conn);
  } finally {
    conn.closeSync();
  }
}

export function stepResultFromManifest(lake: LakeStorage, dirRel: string, manifest: Manifest, cached: boolean): StepResult {
  const metrics = (manifest as { metrics?: Record<string, number> }).metrics;
  return {
    step: manifest.step,
    version: manifest.version,
    uri: lake.uri(dirRel),
    cached,
    rows: manifest.rows,
    ...(metrics ? { metrics } : {}),
    manifest: lake.uri(lakeJoin(dirRel, MANIFEST_FILE)),
  };
}

/**
 * The upstream step's output, which must be a complete publication of exactly the version we were handed (BadInput
 * otherwise): its directory, its manifest and the objects its manifest lists.
 */
export async function publishedInput(lake: LakeStorage, input: StepResult): Promise<{ rel: string; manifest: Manifest; objects: ObjectInfo[] }> {
  const rel = lake.relative(input.uri);
  const check = await verifyPublished(lake, rel, input.version);
  if (!check.ok) throw badInput(`input ${input.uri} is not a complete publication: ${check.reason}`, { input: input.uri });
  const present = new Map((await lake.list(rel)).map((o) => [o.path, o]));
  const objects = check.manifest.files.map((f) => present.get(`${rel}/${f.path}`)!);
  return { rel, manifest: check.manifest, objects };
}

/** Local copies DuckDB can read (the staging cache on GCS), heartbeating once per object so slow downloads stay alive. */
export async function stageObjects(lake: LakeStorage, control: StepControl, objects: ObjectInfo[]): Promise<{ local: string; uri: string; size: number; path: string }[]> {
  const files: { local: string; uri: string; size: number; path: string }[] = [];
  for (const o of objects) {
    files.push({ local: await lake.stage(o), uri: lake.uri(o.path), size: o.size, path: o.path });
    control.heartbeat({ stage: 'stage-input', staged: files.length, files: objects.length });
  }
  return files;
}

/** What a features step takes from the clean data it reads: the key and the declared label set. */
export interface CleanDefaults {
  key?: string[];
  labels?: { column: string; values: string[] };
}

/**
 * The clean defaults of a published ETL output: a clean step's own parameters, or what a sql step carried through
 * from its input (`cleanDefaults` in its manifest: only what its output still has the columns for).
 */
export function cleanDefaultsOf(manifest: Manifest): CleanDefaults {
  const carried = (manifest as { cleanDefaults?: CleanDefaults }).cleanDefaults;
  if (carried) return carried;
  if (manifest.step !== 'clean') return {};
  const p = (manifest.params ?? {}) as CleanDefaults;
  return { ...(p.key ? { key: p.key } : {}), ...(p.labels ? { labels: p.labels } : {}) };
}

export interface InputColumn {
  name: string;
  type: string;
}

/**
 * Opens every input file once before any real work: a zero-byte, truncated or corrupt file (its footer does not
 * parse) or one with no rows at all is BadInput naming it. Returns each file's columns and row count.
 */
export async function inspectInputFiles(
  conn: DuckDBConnection,
  control: StepControl,
  files: { local: string; uri: string; size: number }[],
): Promise<{ columns: InputColumn[]; rows: number }[]> {
  const out: { columns: InputColumn[]; rows: number }[] = [];
  for (const f of files) {
    if (f.size === 0) throw badInput(`input file ${f.uri} is empty (0 bytes)`, { file: f.uri });
    let rows: number;
    let columns: InputColumn[];
    try {
      const md = await queryRows(conn, control, 'inspect', 'SELECT num_rows FROM parquet_file_metadata($f)', { f: f.local });
      rows = Number(md[0]?.num_rows ?? 0);
      const desc = await queryRows(conn, control, 'inspect', 'DESCRIBE SELECT * FROM read_parquet($f)', { f: f.local });
      columns = desc.map((d) => ({ name: String(d.column_name), type: String(d.column_type) }));
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      throw badInput(`input file ${f.uri} is not readable Parquet (corrupt or truncated): ${firstLine(err)}`, { file: f.uri });
    }
    out.push({ columns, rows });
  }
  return out;
}

export function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}

/**
 * Maps a DuckDB failure while reading input to BadInput naming the file when the error names one of ours
 * (a data page corrupt past an intact footer only shows while scanning), otherwise rethrows it.
 */
export function mapReadError(err: unknown, files: { local: string; uri: string }[]): unknown {
  if (err instanceof ApplicationFailure) return err;
  const msg = String((err as Error)?.message ?? err);
  if (/INTERRUPT/i.test(msg)) return err;
  const f = files.find((x) => msg.includes(x.local));
  if (f) return badInput(`input file ${f.uri} could not be read: ${firstLine(err)}`, { file: f.uri });
  if (/parquet|Invalid Input|IO Error|Conversion Error|Invalid unicode|UTF-8/i.test(msg)) {
    return badInput(`input could not be read: ${firstLine(err)}`);
  }
  return err;
}

/** Row count and schema of a Parquet file we wrote, for its manifest entry. */
export async function parquetRows(conn: DuckDBConnection, control: StepControl, path: string): Promise<number> {
  const r = await queryRows(conn, control, 'manifest', 'SELECT num_rows FROM parquet_file_metadata($f)', { f: path });
  return Number(r[0]?.num_rows ?? 0);
}

export async function parquetSchema(conn: DuckDBConnection, control: StepControl, path: string): Promise<{ name: string; type: string }[]> {
  const r = await queryRows(conn, control, 'manifest', 'DESCRIBE SELECT * FROM read_parquet($f, hive_partitioning = false)', { f: path });
  return r.map((d) => ({ name: String(d.column_name), type: String(d.column_type) }));
}

export function varcharList(values: string[]) {
  return listValue(values);
}
