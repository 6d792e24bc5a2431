// status, list, cancel: commands on existing runs. They load only the Temporal client and the message definitions
// of contracts/messages.ts (not the spec validator or the workflow code).
import { WorkflowFailedError, type WorkflowExecutionDescription, type WorkflowHandle } from '@temporalio/client';
import type { PipelineProgress } from '../../contracts/progress.js';
import { cancelUpdate, progressQuery } from '../../contracts/messages.js';
import { LakeforgeDataset, LakeforgeModel, LakeforgePipeline, LakeforgeStatus, LakeforgeStep } from '../../contracts/search-attributes.js';
import { renderProgress } from '../render/progress.js';
import { liveProgress } from '../../sdk/live-progress.js';
import { rejectedCancel } from '../../sdk/cancel-answer.js';
import { isServerUnreachable, serverWaitMs, withServerRetry } from './retry.js';
import {
  CliError, EXIT_FAILED, EXIT_INVALID, EXIT_OK, formatTime, queryString, table, usageError, withClient, workflowUrl, type Connected,
} from './common.js';

const print = (s = '') => process.stdout.write(`${s}\n`);
const RUN_STATUSES = ['running', 'succeeded', 'failed', 'cancelled'] as const;

/**
 * Answers the `progress` query merged with the running activities' heartbeat details (live step/loss/ETA), or
 * undefined when no worker answers within `ms` (none polling, not started yet; `unreachable` when the server is down).
 */
export async function tryProgress(c: Connected, handle: WorkflowHandle, ms: number): Promise<{ progress?: PipelineProgress; error?: string; unreachable?: boolean }> {
  try {
    return { progress: await c.connection.withDeadline(Date.now() + ms, () => liveProgress(handle, () => handle.query(progressQuery))) };
  } catch (err) {
    // A query fails the same way with no worker and with no server: ask the server's health service which it is.
    return { error: (err as Error).message, unreachable: isServerUnreachable(err) || !(await serverAnswers(c)) };
  }
}

/** Whether the server answers its gRPC health check within 2 s. */
export async function serverAnswers(c: Connected): Promise<boolean> {
  try {
    await c.connection.withDeadline(Date.now() + 2_000, () => c.connection.healthService.check({}));
    return true;
  } catch {
    return false;
  }
}

export function failureMessage(err: unknown): string {
  if (err instanceof WorkflowFailedError) {
    const messages: string[] = [];
    for (let e: unknown = err.cause; e && messages.length < 3; e = (e as { cause?: unknown }).cause) {
      const m = (e as Error).message;
      if (m && !messages.some((x) => x.includes(m))) messages.push(m);
    }
    return messages.join(': ') || err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

function attrs(d: { typedSearchAttributes: WorkflowExecutionDescription['typedSearchAttributes'] }) {
  const sa = d.typedSearchAttributes;
  return {
    pipeline: sa.get(LakeforgePipeline), dataset: sa.get(LakeforgeDataset), model: sa.get(LakeforgeModel),
    step: sa.get(LakeforgeStep), lakeforgeStatus: sa.get(LakeforgeStatus),
  };
}

export async function statusCommand(id: string, opts: { json?: boolean }): Promise<number> {
  return withClient(async (c) => {
    const handle = c.client.workflow.getHandle(id);
    const retry = { address: c.address, maxWaitMs: serverWaitMs(120) };
    const d = await withServerRetry('lakeforge status', () => handle.describe(), retry);
    const status = d.status.name;
    const { progress } = await tryProgress(c, handle, 3_000);
    let failure: string | undefined;
    if (status !== 'RUNNING' && status !== 'COMPLETED' && status !== 'CONTINUED_AS_NEW') {
      failure = await withServerRetry('lakeforge status', () => handle.result(), retry).then(() => undefined, failureMessage);
    }
    const a = attrs(d);
    if (opts.json) {
      print(JSON.stringify({
        workflowId: d.workflowId, runId: d.runId, status, ...a, startTime: d.startTime, closeTime: d.closeTime,
        failure, progress, url: workflowUrl(c.namespace, d.workflowId),
      }, null, 2));
    } else {
      print(`${d.workflowId}  ${status}${a.lakeforgeStatus ? ` (${a.lakeforgeStatus})` : ''}`);
      print(`  pipeline ${a.pipeline ?? '?'}  dataset ${a.dataset ?? '?'}${a.model ? `  model ${a.model}` : ''}${a.step && status === 'RUNNING' ? `  step ${a.step}` : ''}`);
      print(`  started  ${formatTime(d.startTime)}${d.closeTime ? `   closed ${formatTime(d.closeTime)}` : ''}`);
      print(`  Web UI   ${workflowUrl(c.namespace, d.workflowId)}`);
      if (progress) for (const line of renderProgress(progress, Date.now())) print(`  ${line}`);
      else print('  (no step table: no worker answered the progress query)');
      if (failure) print(`  failure: ${failure}`);
    }
    return status === 'RUNNING' || status === 'COMPLETED' || status === 'CONTINUED_AS_NEW' ? EXIT_OK : EXIT_FAILED;
  });
}

export function listQuery(opts: { pipeline?: string; status?: string; query?: string }): string {
  const clauses = [`WorkflowType = 'pipelineWorkflow'`];
  if (opts.pipeline) clauses.push(`LakeforgePipeline = ${queryString(opts.pipeline)}`);
  if (opts.status) {
    if (!(RUN_STATUSES as readonly string[]).includes(opts.status)) throw usageError(`--status must be one of ${RUN_STATUSES.join(', ')}, got ${JSON.stringify(opts.status)}`);
    clauses.push(`LakeforgeStatus = ${queryString(opts.status)}`);
  }
  if (opts.query) clauses.push(`(${opts.query})`);
  return clauses.join(' AND ');
}

export async function listCommand(opts: { pipeline?: string; status?: string; query?: string; limit?: string; json?: boolean }): Promise<number> {
  const limit = Number(opts.limit ?? 20);
  if (!Number.isInteger(limit) || limit < 1) throw usageError(`--limit must be a positive integer, got ${JSON.stringify(opts.limit)}`);
  const query = listQuery(opts);
  return withClient(async (c) => {
    type Row = { workflowId: string; status: string; startTime: Date; closeTime?: Date } & ReturnType<typeof attrs>;
    let rows: Row[] = [];
    try {
      // A listing cut by a server restart starts over once the server answers again.
      rows = await withServerRetry('lakeforge list', async () => {
        const out: Row[] = [];
        for await (const wf of c.client.workflow.list({ query, pageSize: Math.min(limit, 100) })) {
          out.push({ workflowId: wf.workflowId, status: wf.status.name, startTime: wf.startTime, closeTime: wf.closeTime, ...attrs(wf) });
          if (out.length >= limit) break;
        }
        return out;
      }, { address: c.address, maxWaitMs: serverWaitMs(120) });
    } catch (err) {
      if (isServerUnreachable(err)) throw new CliError(`cannot reach the server at ${c.address} (gave up after ${serverWaitMs(120) / 1000}s)`, EXIT_FAILED, { cause: err });
      throw new CliError(`the visibility query failed: ${query}`, opts.query ? EXIT_INVALID : EXIT_FAILED, { cause: err });
    }
    if (opts.json) {
      print(JSON.stringify(rows, null, 2));
      return EXIT_OK;
    }
    if (!rows.length) {
      print(`no runs match ${query}`);
      return EXIT_OK;
    }
    print(table(
      ['WORKFLOW ID', 'STATUS', 'PIPELINE', 'STEP', 'STARTED', 'CLOSED'],
      rows.map((r) => [r.workflowId, r.lakeforgeStatus ?? r.status.toLowerCase(), r.pipeline ?? '', r.step ?? '', formatTime(r.startTime), formatTime(r.closeTime)]),
    ));
    return EXIT_OK;
  });
}

export async function cancelCommand(id: string, opts: { reason?: string; timeout?: string }): Promise<number> {
  const timeoutS = Number(opts.timeout ?? 30);
  if (!(timeoutS > 0)) throw usageError(`--timeout must be a positive number of seconds, got ${JSON.stringify(opts.timeout)}`);
  return withClient(async (c) => {
    const handle = c.client.workflow.getHandle(id);
    const d = await handle.describe();
    if (d.status.name !== 'RUNNING') throw new CliError(`run ${id} is not running (${d.status.name})`, EXIT_INVALID);
    let answer: { cancelled: boolean; reason: string };
    try {
      answer = await c.connection.withDeadline(Date.now() + timeoutS * 1000, () => handle.executeUpdate(cancelUpdate, { args: [opts.reason ?? 'cancelled from the lakeforge CLI'] }));
    } catch (err) {
      const rejected = rejectedCancel(err);
      if (rejected) {
        print(`${id}: not cancelled: ${rejected.reason}`);
        return EXIT_INVALID;
      }
      if (/deadline/i.test((err as Error).message)) {
        throw new CliError(`no worker accepted the cancel of ${id} within ${timeoutS}s (is a worker polling task queue ${d.taskQueue}?)`, EXIT_FAILED, { cause: err });
      }
      throw err;
    }
    if (!answer.cancelled) {
      print(`${id}: not cancelled: ${answer.reason}`);
      return EXIT_INVALID;
    }
    print(`cancelling ${id}: ${answer.reason}`);
    print('  running steps stop cleanly (training checkpoints first); follow with: lakeforge status ' + id);
    return EXIT_OK;
  });
}
