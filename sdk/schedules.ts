// Cron and interval pipelines through Temporal Schedules (not the legacy cronSchedule): the schedule's action
// starts pipelineWorkflow with the same input, search attributes and summary as a direct start.
import {
  ScheduleOverlapPolicy, type Client, type ScheduleDescription, type ScheduleHandle, type ScheduleSummary,
} from '@temporalio/client';
import { LakeforgePipeline } from '../contracts/search-attributes.js';
import type { PipelineSpecInput } from '../contracts/spec.js';
import type { StartPipelineOptions } from './pipelines.js';

export const OVERLAP_POLICIES = ['SKIP', 'BUFFER_ONE', 'BUFFER_ALL', 'ALLOW_ALL', 'CANCEL_OTHER', 'TERMINATE_OTHER'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

export interface PipelineScheduleOptions extends Omit<StartPipelineOptions, 'runKey'> {
  /** Default lakeforge-<pipeline>. */
  scheduleId?: string;
  /** Cron expressions (UTC unless timezone is given), e.g. "0 3 * * *". */
  cron?: string[];
  /** Interval, e.g. "1h" or "30m"; with an optional phase offset. */
  every?: string;
  offset?: string;
  timezone?: string;
  /** What to do when a run is still going at the next scheduled time; default SKIP. */
  overlap?: OverlapPolicy;
  paused?: boolean;
  note?: string;
}

export const defaultScheduleId = (pipeline: string) => `lakeforge-${pipeline}`;

/**
 * The runKey inside every scheduled run's input. It is fixed when the schedule is created; Temporal appends the
 * scheduled time to the action's workflow id, so each run's id is lakeforge/<pipeline>/sched-<scheduleId>-<time>.
 */
export const scheduledRunKey = (scheduleId: string) => `sched-${scheduleId}`;

/** Human description of the timing, kept in the memo (the server normalizes cron into calendar specs). */
export function describeTiming(opts: Pick<PipelineScheduleOptions, 'cron' | 'every' | 'offset' | 'timezone'>): string {
  const parts: string[] = [];
  if (opts.cron?.length) parts.push(...opts.cron.map((c) => `cron "${c}"`));
  if (opts.every) parts.push(`every ${opts.every}${opts.offset ? ` (offset ${opts.offset})` : ''}`);
  if (opts.timezone) parts.push(`in ${opts.timezone}`);
  return parts.join(', ');
}

/** Creates the schedule; throws InvalidPipelineError for a bad spec before anything reaches the server. */
export async function createPipelineSchedule(client: Client, spec: PipelineSpecInput, opts: PipelineScheduleOptions): Promise<ScheduleHandle> {
  if (!opts.cron?.length && !opts.every) throw new Error('a schedule needs a cron expression or an interval');
  // Loaded here: the spec validator is only needed to create (list/pause/describe stay light).
  const { pipelineStartAction, pipelineWorkflowId } = await import('./pipelines.js');
  // Validate first, with a placeholder id, to learn the pipeline name for the default schedule id.
  const name = pipelineStartAction(spec, { ...opts, runKey: 'probe' }).plan.spec.name;
  const scheduleId = opts.scheduleId ?? defaultScheduleId(name);
  const runKey = scheduledRunKey(scheduleId);
  const action = pipelineStartAction(spec, { ...opts, runKey });
  const timing = describeTiming(opts);
  return client.schedule.create({
    scheduleId,
    spec: {
      ...(opts.cron?.length ? { cronExpressions: opts.cron } : {}),
      ...(opts.every ? { intervals: [{ every: opts.every as never, ...(opts.offset ? { offset: opts.offset as never } : {}) }] } : {}),
      ...(opts.timezone ? { timezone: opts.timezone } : {}),
    },
    action: {
      type: 'startWorkflow',
      workflowType: 'pipelineWorkflow',
      workflowId: pipelineWorkflowId(name, runKey),
      taskQueue: action.taskQueue,
      args: [action.input],
      staticSummary: `${action.staticSummary} · schedule ${scheduleId}`,
      typedSearchAttributes: action.typedSearchAttributes,
      // Accepted by the SDK's schedule encoder though missing from its create-options type (1.24).
      ...({ priority: action.priority } as object),
    },
    policies: { overlap: ScheduleOverlapPolicy[opts.overlap ?? 'SKIP'] },
    memo: { pipeline: name, timing, createdBy: 'lakeforge' },
    typedSearchAttributes: [{ key: LakeforgePipeline, value: name }],
    state: { paused: opts.paused ?? false, note: opts.note ?? `lakeforge pipeline ${name}, ${timing}` },
  });
}

export interface PipelineScheduleInfo {
  scheduleId: string;
  pipeline?: string;
  timing?: string;
  paused: boolean;
  note?: string;
  nextActionTimes: Date[];
  recentRuns: { scheduledAt: Date; workflowId: string }[];
}

function summaryInfo(s: ScheduleSummary | ScheduleDescription): PipelineScheduleInfo {
  return {
    scheduleId: s.scheduleId,
    pipeline: s.typedSearchAttributes?.get(LakeforgePipeline) ?? (s.memo?.pipeline as string | undefined),
    timing: s.memo?.timing as string | undefined,
    paused: s.state.paused,
    note: s.state.note,
    nextActionTimes: s.info.nextActionTimes,
    recentRuns: s.info.recentActions.map((a) => ({ scheduledAt: a.scheduledAt, workflowId: a.action.workflow.workflowId })),
  };
}

/** Schedules of lakeforge pipelines (those carrying LakeforgePipeline), optionally of one pipeline. */
export async function listPipelineSchedules(client: Client, opts: { pipeline?: string } = {}): Promise<PipelineScheduleInfo[]> {
  const out: PipelineScheduleInfo[] = [];
  for await (const s of client.schedule.list()) {
    const info = summaryInfo(s);
    if (!info.pipeline || (opts.pipeline && info.pipeline !== opts.pipeline)) continue;
    out.push(info);
  }
  return out.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

export async function describePipelineSchedule(client: Client, scheduleId: string) {
  const d = await client.schedule.getHandle(scheduleId).describe();
  const action = d.action.type === 'startWorkflow' ? d.action : undefined;
  return {
    ...summaryInfo(d),
    overlap: d.policies.overlap,
    workflowIdPrefix: action?.workflowId,
    taskQueue: action?.taskQueue,
    numActionsTaken: d.info.numActionsTaken,
    numActionsSkippedOverlap: d.info.numActionsSkippedOverlap,
    runningWorkflowIds: d.info.runningActions.map((a) => a.workflow.workflowId),
    createdAt: d.info.createdAt,
  };
}
