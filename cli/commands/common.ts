// What every command shares: the Temporal connection, the Web UI links, query quoting and table output.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../../activities/common/config.js';
import { temporalConnectionOptions } from '../../activities/common/temporal-connection.js';
import { webUiUrl } from '../../infra/temporal/server.mjs';
import { CliError, EXIT_FAILED, usageError } from './errors.js';

export * from './errors.js';

export interface Connected {
  client: Client;
  connection: Connection;
  namespace: string;
  address: string;
}

/** Connects to TEMPORAL_ADDRESS; a server that does not answer is a one-line error that says how to start one. */
export async function connect(): Promise<Connected> {
  const cfg = loadConfig();
  let options;
  try {
    options = temporalConnectionOptions();
  } catch (err) {
    throw usageError((err as Error).message);
  }
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...options, connectTimeout: '5s' });
  } catch (err) {
    throw new CliError(`cannot reach the Temporal server at ${cfg.temporalAddress} (start one with \`lakeforge server start\`, or set TEMPORAL_ADDRESS)`, EXIT_FAILED, { cause: err });
  }
  return { client: new Client({ connection, namespace: cfg.temporalNamespace }), connection, namespace: cfg.temporalNamespace, address: cfg.temporalAddress };
}

/** Runs `fn` with a connected client and always closes the connection afterwards. */
export async function withClient<T>(fn: (c: Connected) => Promise<T>): Promise<T> {
  const c = await connect();
  try {
    return await fn(c);
  } finally {
    await c.connection.close().catch(() => undefined);
  }
}

export function workflowUrl(namespace: string, workflowId: string, runId?: string): string {
  const base = `${webUiUrl().replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${encodeURIComponent(runId)}` : base;
}

export function scheduleUrl(namespace: string, scheduleId: string): string {
  return `${webUiUrl().replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/schedules/${encodeURIComponent(scheduleId)}`;
}

/** Quotes a value for a visibility query. */
export function queryString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function formatTime(d: Date | undefined): string {
  return d ? d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
}

/** Fixed-width text table (no borders): for list outputs. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** `--lake` accepts a lake URI or a local directory (made absolute). */
export function lakeOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (/^(file:\/\/\/|gs:\/\/|s3:\/\/)/.test(value)) return value;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) throw usageError(`--lake: unsupported URI ${JSON.stringify(value)} (use file:///abs/dir, gs://bucket/prefix, s3://bucket/prefix or a directory)`);
  return pathToFileURL(resolve(value)).href;
}

/** --priority: an integer 1 (most urgent) … 5 (lowest). */
export function priorityOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-5]$/.test(value.trim())) throw usageError(`--priority must be an integer from 1 (most urgent) to 5 (lowest), got ${JSON.stringify(value)}`);
  return Number(value);
}
