// schedule create|list|describe|pause|unpause|trigger|backfill|delete.
import { ScheduleOverlapPolicy } from '@temporalio/client';
import type { PipelineSpecInput } from '../../contracts/spec.js';
import {
  OVERLAP_POLICIES, createPipelineSchedule, describePipelineSchedule, listPipelineSchedules, type OverlapPolicy,
} from '../../sdk/schedules.js';
import { CliError, EXIT_INVALID, EXIT_OK, formatTime, lakeOption, priorityOption, scheduleUrl, table, usageError, withClient } from './common.js';

const print = (s = '') => process.stdout.write(`${s}\n`);

export function overlapOption(value: string | undefined, flag = '--overlap'): OverlapPolicy | undefined {
  if (value === undefined) return undefined;
  const v = value.toUpperCase().replace(/-/g, '_');
  if (!(OVERLAP_POLICIES as readonly string[]).includes(v)) throw usageError(`${flag} must be one of ${OVERLAP_POLICIES.join(', ')}, got ${JSON.stringify(value)}`);
  return v as OverlapPolicy;
}

const DURATION = /^\d+(\.\d+)?\s*(ms|s|m|h|d)$/;

/** gRPC INVALID_ARGUMENT from the server (a cron it cannot parse, …) is the user's input, not a failure. */
function isInvalidArgument(err: unknown): boolean {
  // The schedule client rethrows INVALID_ARGUMENT as a TypeError.
  if (err instanceof TypeError) return true;
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === 3 || /INVALID_ARGUMENT|invalid argument/i.test((e as Error).message ?? '')) return true;
  }
  return false;
}

export async function scheduleCreateCommand(file: string, opts: {
  cron?: string[]; every?: string; offset?: string; timezone?: string; overlap?: string; id?: string; lake?: string; paused?: boolean; note?: string; priority?: string;
}): Promise<number> {
  const { loadPipelineFile } = await import('../../sdk/load-spec.js');
  const { useProject, withProject } = await import('../../sdk/project.js');
  const project = await useProject();
  const plan = loadPipelineFile(file, project);
  if (!opts.cron?.length && !opts.every) throw usageError('schedule create needs --cron "<expr>" or --every <duration>');
  if (opts.every && !DURATION.test(opts.every)) throw usageError(`--every must be a duration such as 30m, 1h or 1d, got ${JSON.stringify(opts.every)}`);
  if (opts.offset && !DURATION.test(opts.offset)) throw usageError(`--offset must be a duration such as 5m, got ${JSON.stringify(opts.offset)}`);
  if (opts.id !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(opts.id)) throw usageError(`--id must be letters, digits, ".", "_" and "-", got ${JSON.stringify(opts.id)}`);
  const overlap = overlapOption(opts.overlap) ?? 'SKIP';
  const lake = lakeOption(opts.lake);
  const priority = priorityOption(opts.priority);
  const spec = (lake ? { ...plan.spec, lake } : plan.spec) as PipelineSpecInput;
  return withClient(async (c) => {
    let handle;
    try {
      handle = await createPipelineSchedule(c.client, spec, withProject({
        scheduleId: opts.id, cron: opts.cron, every: opts.every, offset: opts.offset, timezone: opts.timezone, overlap, paused: opts.paused, note: opts.note, priority,
      }, project));
    } catch (err) {
      if (isInvalidArgument(err)) throw new CliError('the server rejected the schedule', EXIT_INVALID, { cause: err });
      throw err;
    }
    const d = await describePipelineSchedule(c.client, handle.scheduleId);
    print(`created schedule ${handle.scheduleId} for pipeline ${plan.spec.name}: ${d.timing}, overlap ${overlap}${d.paused ? ', paused' : ''}`);
    print(`  runs get workflow ids ${d.workflowIdPrefix}-<scheduled time>`);
    if (d.nextActionTimes[0]) print(`  next run ${formatTime(d.nextActionTimes[0])}`);
    print(`  Web UI: ${scheduleUrl(c.namespace, handle.scheduleId)}`);
    return EXIT_OK;
  });
}

export async function scheduleListCommand(opts: { pipeline?: string; json?: boolean }): Promise<number> {
  return withClient(async (c) => {
    const list = await listPipelineSchedules(c.client, { pipeline: opts.pipeline });
    if (opts.json) print(JSON.stringify(list, null, 2));
    else if (!list.length) print('no lakeforge schedules');
    else {
      print(table(['SCHEDULE ID', 'PIPELINE', 'STATE', 'TIMING', 'NEXT RUN', 'LAST RUN'], list.map((s) => [
        s.scheduleId, s.pipeline ?? '', s.paused ? 'paused' : 'active', s.timing ?? '', formatTime(s.nextActionTimes[0]),
        s.recentRuns.length ? formatTime(s.recentRuns[s.recentRuns.length - 1].scheduledAt) : '',
      ])));
    }
    return EXIT_OK;
  });
}

export async function scheduleDescribeCommand(id: string, opts: { json?: boolean }): Promise<number> {
  return withClient(async (c) => {
    const d = await describePipelineSchedule(c.client, id);
    if (opts.json) {
      print(JSON.stringify(d, null, 2));
      return EXIT_OK;
    }
    print(`schedule ${d.scheduleId}  ${d.paused ? 'PAUSED' : 'ACTIVE'}${d.note ? ` — ${d.note}` : ''}`);
    print(`  pipeline ${d.pipeline ?? '?'}   ${d.timing ?? ''}   overlap ${d.overlap}`);
    print(`  runs     ${d.workflowIdPrefix}-<scheduled time> on task queue ${d.taskQueue}`);
    print(`  taken    ${d.numActionsTaken} run(s), ${d.numActionsSkippedOverlap} skipped by the overlap policy`);
    if (d.nextActionTimes.length) print(`  next     ${d.nextActionTimes.slice(0, 3).map(formatTime).join(', ')}`);
    for (const r of d.recentRuns.slice(-5)) print(`  recent   ${formatTime(r.scheduledAt)}  ${r.workflowId}`);
    for (const w of d.runningWorkflowIds) print(`  running  ${w}`);
    print(`  Web UI   ${scheduleUrl(c.namespace, d.scheduleId)}`);
    return EXIT_OK;
  });
}

export async function scheduleSimpleCommand(action: 'pause' | 'unpause' | 'delete', id: string, opts: { note?: string }): Promise<number> {
  return withClient(async (c) => {
    const handle = c.client.schedule.getHandle(id);
    if (action === 'pause') await handle.pause(opts.note ?? 'paused from the lakeforge CLI');
    else if (action === 'unpause') await handle.unpause(opts.note ?? 'unpaused from the lakeforge CLI');
    else await handle.delete();
    print(`${action === 'delete' ? 'deleted' : `${action}d`} schedule ${id}`);
    return EXIT_OK;
  });
}

export async function scheduleTriggerCommand(id: string, opts: { overlap?: string; json?: boolean }): Promise<number> {
  const overlap = overlapOption(opts.overlap);
  return withClient(async (c) => {
    const handle = c.client.schedule.getHandle(id);
    const before = await handle.describe();
    await handle.trigger(overlap ? ScheduleOverlapPolicy[overlap] : undefined);
    // The run starts asynchronously: wait briefly to name it (recentActions grows by one).
    let workflowId: string | undefined;
    for (let i = 0; i < 40 && !workflowId; i++) {
      const d = await handle.describe();
      if (d.info.numActionsTaken > before.info.numActionsTaken) workflowId = d.info.recentActions.at(-1)?.action.workflow.workflowId;
      else await new Promise((r) => setTimeout(r, 250));
    }
    if (opts.json) print(JSON.stringify({ scheduleId: id, workflowId: workflowId ?? null }));
    else print(workflowId ? `triggered schedule ${id}: started ${workflowId}` : `triggered schedule ${id} (the run was not visible yet${before.policies.overlap === 'SKIP' ? '; a run still going may have made SKIP drop it' : ''})`);
    return EXIT_OK;
  });
}

function parseDate(value: string, flag: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw usageError(`${flag} must be a date/time such as 2026-11-01 or 2026-11-01T03:00:00Z, got ${JSON.stringify(value)}`);
  return d;
}

export async function scheduleBackfillCommand(id: string, opts: { from: string; to: string; overlap?: string }): Promise<number> {
  const start = parseDate(opts.from, '--from');
  const end = parseDate(opts.to, '--to');
  if (end <= start) throw usageError('--to must be after --from');
  // Every missed slot should run once, one after the other: BUFFER_ALL unless told otherwise.
  const overlap = overlapOption(opts.overlap) ?? 'BUFFER_ALL';
  return withClient(async (c) => {
    await c.client.schedule.getHandle(id).backfill({ start, end, overlap: ScheduleOverlapPolicy[overlap] });
    print(`backfilling schedule ${id} from ${formatTime(start)} to ${formatTime(end)} (overlap ${overlap})`);
    return EXIT_OK;
  });
}
