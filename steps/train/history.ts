import type { LakeStorage } from '../../activities/lake/types.js';
import { lakeJoin } from '../../activities/lake/paths.js';
import type { TrainerEvent } from '../../contracts/trainer-protocol.js';

/**
 * The run's curve (progress and eval events) across attempts. Each attempt writes its own events next to the run's
 * checkpoints in the lake whenever it syncs one; at publish the attempts are stitched: an attempt's events count up
 * to the step the next attempt resumed from, since steps after it were redone.
 */
export interface HistoryPoint {
  attempt: number;
  event: 'progress' | 'eval' | 'checkpoint' | 'started' | 'resume';
  step: number;
  ts?: number;
  loss?: number;
  lr?: number;
  samples_per_s?: number;
  metrics?: Record<string, number>;
  resumed_from_step?: number | null;
  reason?: string;
  /** resume: where the checkpoint came from. */
  source?: 'local' | 'lake';
}

export function toPoint(attempt: number, e: TrainerEvent): HistoryPoint | null {
  switch (e.event) {
    case 'progress':
      return { attempt, event: 'progress', step: e.step, ts: e.ts, loss: e.loss, lr: e.lr, samples_per_s: e.samples_per_s };
    case 'eval':
      return { attempt, event: 'eval', step: e.step, ts: e.ts, metrics: e.metrics };
    case 'checkpoint':
      return { attempt, event: 'checkpoint', step: e.step, ts: e.ts, reason: e.reason };
    case 'started':
      return { attempt, event: 'started', step: e.resumed_from_step ?? 0, ts: e.ts, resumed_from_step: e.resumed_from_step };
    default:
      return null;
  }
}

export function historyRel(prefix: string, attempt: number): string {
  return lakeJoin(prefix, `history-attempt-${attempt}.json`);
}

export async function saveAttemptHistory(lake: LakeStorage, prefix: string, attempt: number, points: HistoryPoint[]): Promise<void> {
  await lake.writeText(historyRel(prefix, attempt), JSON.stringify(points));
}

/** Every attempt's points, stitched (see above); `current` is this attempt's in-memory list, the newest. */
export async function stitchedHistory(lake: LakeStorage, prefix: string, attempt: number, current: HistoryPoint[]): Promise<HistoryPoint[]> {
  const attempts: HistoryPoint[][] = [];
  for (const o of await lake.list(prefix)) {
    const m = /\/history-attempt-(\d+)\.json$/.exec(o.path);
    if (!m || Number(m[1]) >= attempt) continue;
    try {
      const pts = JSON.parse((await lake.readText(o.path)) ?? '[]') as HistoryPoint[];
      if (Array.isArray(pts) && pts.length) attempts.push(pts);
    } catch {
      /* a torn history file only costs part of the curve */
    }
  }
  attempts.sort((a, b) => a[0].attempt - b[0].attempt);
  attempts.push(current);
  const out: HistoryPoint[] = [];
  for (let i = 0; i < attempts.length; i++) {
    const next = attempts.slice(i + 1).find((pts) => pts.some((p) => p.event === 'started'));
    const resumed = next?.find((p) => p.event === 'started')?.resumed_from_step;
    const cut = next ? (resumed ?? 0) : Infinity;
    for (const p of attempts[i]) if (p.step <= cut || p.event === 'started' || p.event === 'resume') out.push(p);
  }
  return out;
}
