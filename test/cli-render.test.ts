// The CLI's progress renderer: plain change lines off a TTY, in-place ANSI redraws on one, and the training bar.
import { describe, expect, it } from 'vitest';
import { ProgressRenderer, bar, renderProgress } from '../cli/render/progress.js';
import type { PipelineProgress } from '../contracts/progress.js';

const t0 = Date.parse('2026-11-23T10:00:00Z');
const snapshot = (over: Partial<PipelineProgress['steps'][number]>[] = []): PipelineProgress => ({
  pipeline: 'news-topics', runKey: 'k', status: 'running',
  steps: [
    { name: 'clean', kind: 'clean', state: 'succeeded', startedAt: t0, endedAt: t0 + 2_000, result: { step: 'clean', version: 'v', uri: 'file:///l/clean', cached: false, rows: 950, manifest: 'm' } },
    { name: 'train', kind: 'train', state: 'running', startedAt: t0 + 2_000, training: { step: 30, totalSteps: 120, loss: 0.6931, samplesPerSecond: 52.5, etaSeconds: 95 } },
    { name: 'evaluate', kind: 'evaluate', state: 'pending' },
  ].map((s, i) => ({ ...s, ...over[i] })) as PipelineProgress['steps'],
});

function sink(isTTY: boolean) {
  const out = { text: '', isTTY, columns: 200, write(s: string) { out.text += s; return true; } };
  return out;
}

describe('progress renderer', () => {
  it('draws step rows and a training bar with steps, loss, samples/s and ETA', () => {
    const lines = renderProgress(snapshot(), t0 + 12_000);
    expect(lines[0]).toMatch(/^pipeline news-topics  running  █{6}▌░{13} 1\/3 steps$/);
    expect(lines[1]).toMatch(/✔ clean\s+clean\s+succeeded\s+2\.0s\s+950 rows/);
    expect(lines[2]).toMatch(/▶ train\s+train\s+running\s+10\.0s/);
    expect(lines[3]).toContain(`${bar(0.25)} step 30/120  loss 0.6931  52.5 samples/s  ETA 1m35s`);
    expect(lines[4]).toMatch(/· evaluate\s+evaluate\s+pending/);
  });

  it('writes plain lines on state changes only (and training every few seconds) when not a TTY', () => {
    const out = sink(false);
    const r = new ProgressRenderer(out, { trainingEveryMs: 5_000 });
    r.update(snapshot(), t0 + 3_000);
    r.update(snapshot(), t0 + 4_000); // nothing new
    r.update(snapshot([{}, { training: { step: 40, totalSteps: 120, loss: 0.5 } }]), t0 + 5_000); // too soon
    r.update(snapshot([{}, { training: { step: 60, totalSteps: 120, loss: 0.4 } }]), t0 + 9_000);
    // A train step's result has no rows (rows: 0): its line shows its training figures, not "0 rows".
    const trained = { step: 'train', version: 'v', uri: 'file:///l/models/m', cached: false, rows: 0, manifest: 'm', metrics: { steps: 120, final_loss: 0.31 } };
    r.finish({ ...snapshot([{}, { state: 'succeeded', endedAt: t0 + 20_000, training: undefined, result: trained }, { state: 'succeeded', startedAt: t0 + 20_000, endedAt: t0 + 21_000 }]), status: 'succeeded' }, t0 + 21_000);
    expect(out.text).not.toContain('\x1b[');
    expect(out.text.trim().split('\n')).toEqual([
      '[10:00:03] clean (clean): succeeded in 2.0s — 950 rows',
      '[10:00:03] train (train): running',
      '[10:00:03] train (train): 25% step 30/120  loss 0.6931  52.5 samples/s  ETA 1m35s',
      '[10:00:09] train (train): 50% step 60/120  loss 0.4000',
      '[10:00:21] train (train): succeeded in 18.0s — steps=120  final_loss=0.3100',
      '[10:00:21] evaluate (evaluate): succeeded in 1.0s',
      'pipeline news-topics succeeded: 3/3 steps done',
    ]);
  });

  it('redraws the block in place on a TTY (cursor up + clear), with colour', () => {
    const out = sink(true);
    const r = new ProgressRenderer(out);
    r.update(snapshot(), t0 + 3_000);
    const first = out.text;
    expect(first).not.toContain('\x1b[5A');
    expect(first).toContain('\x1b[36m'); // running in cyan
    r.update(snapshot([{}, { training: { step: 60, totalSteps: 120 } }]), t0 + 4_000);
    expect(out.text.slice(first.length).startsWith('\x1b[5A\r\x1b[0J')).toBe(true);
  });
});
