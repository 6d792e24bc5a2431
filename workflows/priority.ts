// Task priority and fair share for a pipeline run's activities and child workflows (Temporal task priority:
// priorityKey 1 = most urgent … 5; fairnessKey = the team; fairnessWeight = its share). The server orders a
// backlogged task queue by priorityKey, then dispatches fairly between fairness keys of one priority, when it runs
// with matching.useNewMatcher=true and matching.enableFairness=true (infra/temporal/server.mjs, infra/cluster/).
// Bundled into workflows: stepPriority is pure; runPriorityContext only reads workflowInfo() (deterministic).
import type { Priority } from '@temporalio/common';
import { workflowInfo } from '@temporalio/workflow';

export const PRIORITY_MOST_URGENT = 1;
export const PRIORITY_LOWEST = 5;
export const PRIORITY_DEFAULT = 3;
/** A scheduled run started this long after its scheduled time is a backfill (or a catch-up after an outage). */
export const BACKFILL_LATENESS_MS = 10 * 60_000;

/** The spec fields that decide priority (contracts/spec.ts): the pipeline's and, overriding it, a step's. */
export interface PrioritySpec { priority?: number; team?: string; fairnessWeight?: number }
export interface StepPrioritySpec { priority?: number }

/** What the run itself was started with and how: workflowInfo().priority, and whether it is a backfill. */
export interface RunPriorityContext { started?: Priority; backfill?: boolean }

const clamp = (n: number) => Math.min(PRIORITY_LOWEST, Math.max(PRIORITY_MOST_URGENT, Math.round(n)));

/**
 * The priority of one step's tasks. priorityKey: the step's own `priority`, else the lowest for a backfill, else
 * the priority the run was started with (`--priority`, or the spec's, set by the client), else the spec's, else 3.
 * fairnessKey: the spec's `team`, else the one the run was started with; fairnessWeight likewise.
 */
export function stepPriority(spec: PrioritySpec, step: StepPrioritySpec = {}, run: RunPriorityContext = {}): Priority {
  const key = step.priority ?? (run.backfill ? PRIORITY_LOWEST : undefined) ?? (run.started?.priorityKey || undefined)
    ?? spec.priority ?? PRIORITY_DEFAULT;
  const fairnessKey = spec.team ?? (run.started?.fairnessKey || undefined);
  const fairnessWeight = spec.fairnessWeight ?? (run.started?.fairnessWeight || undefined);
  return {
    priorityKey: clamp(key),
    ...(fairnessKey ? { fairnessKey } : {}),
    ...(fairnessKey && fairnessWeight ? { fairnessWeight } : {}),
  };
}

/** The priority a client starts a run (or a schedule's runs) with: `--priority` over the spec's. */
export function runStartPriority(spec: PrioritySpec, override?: number): Priority {
  return stepPriority(spec, {}, { started: override ? { priorityKey: override } : undefined });
}

/** True when `scheduled` (the schedule's nominal time for this run) is well before the run actually started. */
export function isBackfill(scheduled: Date | undefined, started: Date): boolean {
  return !!scheduled && started.getTime() - scheduled.getTime() > BACKFILL_LATENESS_MS;
}

/** The running workflow's priority context: its start priority, and whether a schedule started it late (backfill). */
export function runPriorityContext(): RunPriorityContext {
  const info = workflowInfo();
  // Temporal's scheduler stamps every run it starts with its nominal time in TemporalScheduledStartTime.
  const raw = (info.searchAttributes as Record<string, unknown[] | undefined>)?.TemporalScheduledStartTime?.[0];
  const scheduled = raw instanceof Date ? raw : typeof raw === 'string' ? new Date(raw) : undefined;
  return { started: info.priority, backfill: isBackfill(scheduled && !Number.isNaN(scheduled.getTime()) ? scheduled : undefined, info.startTime) };
}

/** Options for a child workflow started on behalf of a step: the same priority as the step's activities. */
export function childPriority(activity: { priority?: Priority }): { priority?: Priority } {
  return activity.priority ? { priority: activity.priority } : {};
}
