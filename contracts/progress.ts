// The run's observable state: the `progress` query's answer and the Web UI's current-details table.
import type { StepResult } from './step-result.js';

export type StepState = 'pending' | 'running' | 'succeeded' | 'cached' | 'failed' | 'cancelled' | 'skipped';

/** What a long-running step (training) reports while it runs. */
export interface TrainingProgress {
  step?: number;
  totalSteps?: number;
  loss?: number;
  samplesPerSecond?: number;
  etaSeconds?: number | null;
  checkpoint?: string | null;
  /** The activity's phase (staging, restoring, running, syncing, publishing), from its heartbeat. */
  phase?: string;
  /** When the server last recorded the heartbeat these figures come from (ms since epoch). */
  heartbeatAt?: number;
}

export interface StepProgress {
  name: string;
  kind: string;
  state: StepState;
  startedAt?: number;
  endedAt?: number;
  attempt?: number;
  /** The step's retry budget, while it runs (from the pending activity). */
  maxAttempts?: number;
  /** The previous attempt's failure while a retry runs (a preemption, a crash). */
  lastFailure?: string;
  result?: StepResult;
  error?: string;
  training?: TrainingProgress;
}

export interface PipelineProgress {
  pipeline: string;
  runKey: string;
  status: 'running' | 'succeeded' | 'failed' | 'cancelled';
  steps: StepProgress[];
}

// Plain words in bold for finished states: emoji need fonts the Web UI's host may not have.
const STATE_ICON: Record<StepState, string> = {
  pending: 'pending', running: '**running**', succeeded: 'succeeded', cached: 'cached',
  failed: '**FAILED**', cancelled: 'cancelled', skipped: 'skipped',
};

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '';
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${Math.floor(s % 60)}s` : `${Math.floor(m / 60)}h${m % 60}m`;
}

function detail(s: StepProgress): string {
  if (s.error) return s.error.replace(/\|/g, '\\|').slice(0, 120);
  const t = s.training;
  if (t && s.state === 'running') {
    const parts = [`step ${t.step ?? 0}${t.totalSteps ? `/${t.totalSteps}` : ''}`];
    if (t.loss !== undefined) parts.push(`loss ${t.loss.toFixed(4)}`);
    if (t.samplesPerSecond !== undefined) parts.push(`${t.samplesPerSecond.toFixed(1)} samples/s`);
    if (t.etaSeconds != null) parts.push(`ETA ${formatDuration(t.etaSeconds * 1000)}`);
    return parts.join(', ');
  }
  // Live training figures are in the pending activity's heartbeat details, not in the workflow (docs/long-runs.md).
  if (s.state === 'running' && (s.kind === 'train' || s.kind === 'evaluate')) return 'live step, loss, ETA: Pending Activities → Heartbeat Details';
  const m = s.result?.metrics;
  if (m) return Object.entries(m).slice(0, 4).map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(4)}`).join(', ');
  return '';
}

/** Markdown for `setCurrentDetails`, rendered by the Temporal Web UI. */
export function progressMarkdown(p: PipelineProgress, now: number): string {
  const rows = p.steps.map((s) => {
    const end = s.endedAt ?? (s.state === 'running' ? now : undefined);
    const dur = s.startedAt !== undefined && end !== undefined ? formatDuration(end - s.startedAt) : '';
    const rowsOut = s.result?.rows !== undefined ? String(s.result.rows) : '';
    const cached = s.result ? (s.result.cached ? 'yes' : 'no') : '';
    return `| ${s.name} | ${s.kind} | ${STATE_ICON[s.state]} | ${dur} | ${rowsOut} | ${cached} | ${detail(s)} |`;
  });
  return [
    `### lakeforge pipeline \`${p.pipeline}\` — ${p.status}`,
    '',
    '| Step | Kind | State | Duration | Rows | Cache hit | Detail |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}
