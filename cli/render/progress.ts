// Live progress of a pipeline run from its `progress` query: one row per step plus a training bar (step, loss,
// samples/s, ETA). On a TTY the block is redrawn in place with ANSI; otherwise each change is one plain line,
// so logs and CI output stay readable.
import { formatDuration, type PipelineProgress, type StepProgress, type StepState, type TrainingProgress } from '../../contracts/progress.js';

const ICON: Record<StepState, string> = {
  pending: '·', running: '▶', succeeded: '✔', cached: '♻', failed: '✖', cancelled: '■', skipped: '-',
};

interface Style {
  dim(s: string): string;
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  bold(s: string): string;
}

const ansi = (code: string) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
const COLOR: Style = { dim: ansi('2'), green: ansi('32'), red: ansi('31'), yellow: ansi('33'), cyan: ansi('36'), bold: ansi('1') };
const PLAIN: Style = { dim: (s) => s, green: (s) => s, red: (s) => s, yellow: (s) => s, cyan: (s) => s, bold: (s) => s };

function stateStyle(st: Style, state: StepState): (s: string) => string {
  if (state === 'succeeded' || state === 'cached') return st.green;
  if (state === 'failed') return st.red;
  if (state === 'running') return st.cyan;
  if (state === 'cancelled') return st.yellow;
  return st.dim;
}

export function bar(fraction: number, width = 24): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.floor(f * width);
  const partial = f * width - full >= 0.5 && full < width ? '▌' : '';
  return `${'█'.repeat(full)}${partial}${'░'.repeat(width - full - partial.length)}`;
}

export function trainingText(t: TrainingProgress): string {
  const parts = [`step ${t.step ?? 0}${t.totalSteps ? `/${t.totalSteps}` : ''}`];
  if (t.loss !== undefined) parts.push(`loss ${t.loss.toFixed(4)}`);
  if (t.samplesPerSecond !== undefined) parts.push(`${t.samplesPerSecond.toFixed(1)} samples/s`);
  if (t.etaSeconds != null) parts.push(`ETA ${formatDuration(t.etaSeconds * 1000)}`);
  if (t.phase && t.phase !== 'running') parts.push(t.phase);
  return parts.join('  ');
}

/** `attempt 3/10 (last: Preempted: …)` for a step being retried; '' on its first attempt. */
export function attemptText(s: StepProgress): string {
  if (!s.attempt || s.attempt <= 1) return '';
  return `attempt ${s.attempt}${s.maxAttempts ? `/${s.maxAttempts}` : ''}${s.lastFailure ? ` (last: ${s.lastFailure.slice(0, 80)})` : ''}`;
}

function stepDuration(s: StepProgress, now: number): string {
  if (s.startedAt === undefined) return '';
  return formatDuration((s.endedAt ?? (s.state === 'running' ? now : s.startedAt)) - s.startedAt);
}

const MODEL_KINDS = new Set(['train', 'evaluate', 'promote']);

function stepDetail(s: StepProgress): string {
  if (s.error) return s.error.split('\n')[0];
  const parts: string[] = [];
  // A model step's output is a checkpoint or a report, not rows: its line shows its figures (metrics) instead.
  if (s.result?.rows !== undefined && !MODEL_KINDS.has(s.kind)) parts.push(`${s.result.rows} rows`);
  const m = s.result?.metrics;
  if (m) parts.push(...Object.entries(m).slice(0, 4).map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(4)}`));
  return parts.join('  ');
}

/** The block of lines for one snapshot (also what `lakeforge status` prints once). */
export function renderProgress(p: PipelineProgress, now: number, opts: { color?: boolean; width?: number } = {}): string[] {
  const st = opts.color ? COLOR : PLAIN;
  const done = p.steps.filter((s) => s.state === 'succeeded' || s.state === 'cached').length;
  const nameW = Math.max(4, ...p.steps.map((s) => s.name.length));
  const kindW = Math.max(4, ...p.steps.map((s) => s.kind.length));
  const lines = [
    `${st.bold(`pipeline ${p.pipeline}`)}  ${stateStyle(st, p.status === 'running' ? 'running' : p.status === 'succeeded' ? 'succeeded' : p.status === 'failed' ? 'failed' : 'cancelled')(p.status)}  ${bar(p.steps.length ? done / p.steps.length : 0, 20)} ${done}/${p.steps.length} steps`,
  ];
  for (const s of p.steps) {
    const color = stateStyle(st, s.state);
    const row = `  ${color(ICON[s.state])} ${s.name.padEnd(nameW)}  ${st.dim(s.kind.padEnd(kindW))}  ${color(s.state.padEnd(9))}  ${stepDuration(s, now).padStart(7)}  ${s.state === 'failed' ? st.red(stepDetail(s)) : stepDetail(s)}`;
    lines.push(row.trimEnd());
    const t = s.training;
    if (t && s.state === 'running') {
      const frac = t.totalSteps ? (t.step ?? 0) / t.totalSteps : 0;
      lines.push(`    ${' '.repeat(nameW)}  ${st.cyan(bar(frac))} ${trainingText(t)}`);
    }
    const retry = s.state === 'running' ? attemptText(s) : '';
    if (retry) lines.push(`    ${' '.repeat(nameW)}  ${st.yellow(retry)}`);
  }
  if (!opts.width) return lines;
  // A wrapped line would break the cursor arithmetic of the redraw: cut at the terminal width (ANSI-aware).
  return lines.map((l) => truncateVisible(l, opts.width! - 1));
}

function truncateVisible(line: string, max: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; ) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i);
      out += line.slice(i, end + 1);
      i = end + 1;
      continue;
    }
    const ch = String.fromCodePoint(line.codePointAt(i)!);
    if (visible >= max) break;
    out += ch;
    visible++;
    i += ch.length;
  }
  return line.includes('\x1b') ? `${out}\x1b[0m` : out;
}

export interface ProgressOutput {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Draws successive snapshots: in place on a TTY, as change lines otherwise. */
export class ProgressRenderer {
  private drawn = 0;
  private lastStates = new Map<string, string>();
  private lastTrainingLine = new Map<string, { at: number; text: string }>();
  readonly tty: boolean;
  private readonly color: boolean;
  private readonly trainingEveryMs: number;

  constructor(private readonly out: ProgressOutput, opts: { tty?: boolean; color?: boolean; trainingEveryMs?: number } = {}) {
    this.tty = opts.tty ?? !!out.isTTY;
    this.color = opts.color ?? (this.tty && !process.env.NO_COLOR);
    this.trainingEveryMs = opts.trainingEveryMs ?? 5_000;
  }

  update(p: PipelineProgress, now = Date.now()): void {
    if (this.tty) this.redraw(renderProgress(p, now, { color: this.color, width: this.out.columns ?? 120 }));
    else this.logChanges(p, now);
  }

  private redraw(lines: string[]): void {
    const up = this.drawn ? `\x1b[${this.drawn}A\r\x1b[0J` : '';
    this.out.write(`${up}${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }

  private logChanges(p: PipelineProgress, now: number): void {
    const stamp = new Date(now).toISOString().slice(11, 19);
    for (const s of p.steps) {
      // A retry (new attempt) is a change too: a preempted step is visible in CI logs.
      const key = `${s.state}#${s.attempt ?? 1}`;
      if (this.lastStates.get(s.name) !== key) {
        this.lastStates.set(s.name, key);
        if (s.state === 'pending') continue;
        const dur = s.state === 'running' ? '' : ` in ${stepDuration(s, now)}`;
        const detail = stepDetail(s);
        const retry = s.state === 'running' ? attemptText(s) : '';
        this.out.write(`[${stamp}] ${s.name} (${s.kind}): ${s.state}${s.state === 'skipped' ? '' : dur}${detail ? ` — ${detail}` : ''}${retry ? ` — ${retry}` : ''}\n`);
      }
      if (s.state === 'running' && s.training) {
        const text = trainingText(s.training);
        const last = this.lastTrainingLine.get(s.name);
        if (!last || (last.text !== text && now - last.at >= this.trainingEveryMs)) {
          this.lastTrainingLine.set(s.name, { at: now, text });
          const frac = s.training.totalSteps ? ` ${Math.round(((s.training.step ?? 0) / s.training.totalSteps) * 100)}%` : '';
          this.out.write(`[${stamp}] ${s.name} (${s.kind}):${frac} ${text}\n`);
        }
      }
    }
  }

  /** The final snapshot: on a TTY the block stays on screen; otherwise the summary line. */
  finish(p: PipelineProgress, now = Date.now()): void {
    this.update(p, now);
    if (!this.tty) {
      const done = p.steps.filter((s) => s.state === 'succeeded' || s.state === 'cached').length;
      const cached = p.steps.filter((s) => s.state === 'cached').length;
      this.out.write(`pipeline ${p.pipeline} ${p.status}: ${done}/${p.steps.length} steps done${cached ? ` (${cached} cached)` : ''}\n`);
    }
  }
}
