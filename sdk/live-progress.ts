// Live progress of a running step, read from the running activity's heartbeat details (docs/long-runs.md).
// The workflow's `progress` query knows the step states; it no longer hears about training step/loss/ETA, because
// every signal costs history events and a days-long run would pass Temporal's 51,200-event limit. The train and
// evaluate activities heartbeat those figures at least every 10 s anyway, and heartbeats cost no history: the
// server keeps only the latest details, which `describe()` returns under pendingActivities. This module merges the
// two views. It loads only the client (no workflow code), so the CLI's `status` stays light.
import type { WorkflowHandle } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/index.js';
import type { PipelineProgress, StepProgress, TrainingProgress } from '../contracts/progress.js';

/** One pending activity of the run, its heartbeat details decoded. */
export interface LiveActivity {
  activityType: string;
  attempt: number;
  maximumAttempts?: number;
  /** When the server last recorded a heartbeat (ms since epoch). */
  lastHeartbeatAt?: number;
  /** The previous attempt's failure, while a retried step runs again (e.g. `Preempted: …`). */
  lastFailure?: string;
  details?: unknown;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const millis = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number | undefined =>
  t?.seconds != null ? Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : undefined;

/** The run's pending activities, heartbeat details decoded with the client's own data converter (codecs included). */
export async function pendingActivities(handle: WorkflowHandle): Promise<LiveActivity[]> {
  const d = await handle.describe();
  const converter = handle.client.options.loadedDataConverter;
  const out: LiveActivity[] = [];
  for (const p of d.raw.pendingActivities ?? []) {
    let details: unknown;
    try {
      details = p.heartbeatDetails?.payloads?.length ? await decodeFromPayloadsAtIndex(converter, 0, p.heartbeatDetails.payloads) : undefined;
    } catch {
      details = undefined; // details this client cannot decode: the step table still shows the state
    }
    const f = p.lastFailure;
    out.push({
      activityType: p.activityType?.name ?? '',
      attempt: p.attempt ?? 1,
      maximumAttempts: p.maximumAttempts || undefined,
      lastHeartbeatAt: millis(p.lastHeartbeatTime),
      lastFailure: f?.message ? `${f.applicationFailureInfo?.type ? `${f.applicationFailureInfo.type}: ` : ''}${f.message.split('\n')[0]}` : undefined,
      details,
    });
  }
  return out;
}

/** The train/evaluate heartbeat (activities/trainer/supervise.ts TrainHeartbeat) as the step table's training figures. */
export function trainingFromHeartbeat(details: unknown, at?: number): TrainingProgress | undefined {
  if (!details || typeof details !== 'object') return undefined;
  const h = details as Record<string, unknown>;
  const t: TrainingProgress = {};
  if (num(h.step) !== undefined) t.step = num(h.step);
  if (num(h.total_steps) !== undefined) t.totalSteps = num(h.total_steps);
  if (num(h.loss) !== undefined) t.loss = num(h.loss);
  if (num(h.samples_per_s) !== undefined) t.samplesPerSecond = num(h.samples_per_s);
  if (num(h.eta_s) !== undefined) t.etaSeconds = num(h.eta_s);
  if (typeof h.checkpoint === 'string') t.checkpoint = h.checkpoint;
  if (typeof h.phase === 'string') t.phase = h.phase;
  if (at !== undefined) t.heartbeatAt = at;
  return Object.keys(t).length ? t : undefined;
}

/** Which running step a pending activity belongs to: the one its heartbeat names, else the only running step of its kind. */
function stepOf(progress: PipelineProgress, a: LiveActivity): StepProgress | undefined {
  const running = progress.steps.filter((s) => s.state === 'running');
  const named = (a.details as { pipeline_step?: unknown } | undefined)?.pipeline_step;
  if (typeof named === 'string') return running.find((s) => s.name === named);
  const ofKind = running.filter((s) => s.kind === a.activityType);
  return ofKind.length === 1 ? ofKind[0] : undefined;
}

/** The query's step table with the live figures of each running step's activity laid over it (a new object). */
export function mergeLive(progress: PipelineProgress, activities: LiveActivity[]): PipelineProgress {
  const merged: PipelineProgress = { ...progress, steps: progress.steps.map((s) => ({ ...s })) };
  for (const a of activities) {
    const s = stepOf(merged, a);
    if (!s) continue;
    s.attempt = a.attempt;
    if (a.maximumAttempts) s.maxAttempts = a.maximumAttempts;
    if (a.lastFailure && a.attempt > 1) s.lastFailure = a.lastFailure;
    const t = trainingFromHeartbeat(a.details, a.lastHeartbeatAt);
    // Runs started before heartbeat-based progress may carry signalled figures: the heartbeat is newer.
    if (t && (t.step !== undefined || s.kind === 'train' || s.kind === 'evaluate')) s.training = { ...s.training, ...t };
  }
  return merged;
}

/**
 * A running train step with no activity of its own in the run is a multi-node step: its node activities are pending
 * in the child workflow `<run id>/<step>` (workflows/distributed-train.ts). The node that holds global rank 0
 * heartbeats the figures; the others report none.
 */
async function mergeChildNodes(handle: WorkflowHandle, progress: PipelineProgress): Promise<PipelineProgress> {
  const quiet = progress.steps.filter((s) => s.state === 'running' && s.kind === 'train' && s.training?.step === undefined);
  if (!quiet.length) return progress;
  const steps = await Promise.all(progress.steps.map(async (s) => {
    if (!quiet.includes(s)) return s;
    const nodes = await pendingActivities(handle.client.getHandle(`${handle.workflowId}/${s.name}`)).catch(() => [] as LiveActivity[]);
    const speaking = nodes
      .map((a) => ({ a, t: trainingFromHeartbeat(a.details, a.lastHeartbeatAt) }))
      .filter((x) => x.t?.step !== undefined && x.t.step !== null)
      .sort((x, y) => (y.t!.step! - x.t!.step!))[0];
    return speaking ? { ...s, training: { ...s.training, ...speaking.t } } : s;
  }));
  return { ...progress, steps };
}

/** The `progress` query's answer merged with the live heartbeat details; the query alone when describe() fails. */
export async function liveProgress(handle: WorkflowHandle, query: () => Promise<PipelineProgress>): Promise<PipelineProgress> {
  const [progress, activities] = await Promise.all([query(), pendingActivities(handle).catch(() => [] as LiveActivity[])]);
  return progress.status === 'running' ? mergeChildNodes(handle, mergeLive(progress, activities)) : progress;
}
