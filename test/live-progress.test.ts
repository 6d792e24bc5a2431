// Merging the progress query's step table with the pending activities' heartbeat details (sdk/live-progress.ts).
import { describe, expect, it } from 'vitest';
import { mergeLive, trainingFromHeartbeat, type LiveActivity } from '../sdk/live-progress.js';
import { renderProgress } from '../cli/render/progress.js';
import type { PipelineProgress } from '../contracts/progress.js';

const table = (): PipelineProgress => ({
  pipeline: 'p', runKey: 'k', status: 'running',
  steps: [
    { name: 'features', kind: 'features', state: 'succeeded' },
    { name: 'train-a', kind: 'train', state: 'running', startedAt: 0 },
    { name: 'train-b', kind: 'train', state: 'running', startedAt: 0 },
    { name: 'evaluate', kind: 'evaluate', state: 'pending' },
  ],
});
const hb = (over: Record<string, unknown>) => ({
  phase: 'running', step: 120, total_steps: 400, checkpoint: 'checkpoints/r/train-b/step-100', checkpoint_step: 100,
  loss: 0.5, samples_per_s: 33, eta_s: 90, epoch: 0.3, resumed_from_step: 100, pid: 1, slot: 'gpu0', attempt: 3, ...over,
});

describe('mergeLive', () => {
  it('puts a heartbeat on the step it names, with the attempt and the last failure of a retried step', () => {
    const live: LiveActivity[] = [{
      activityType: 'train', attempt: 3, maximumAttempts: 10, lastHeartbeatAt: 5_000, lastFailure: 'Preempted: the trainer checkpointed', details: hb({ pipeline_step: 'train-b' }),
    }];
    const p = table();
    const merged = mergeLive(p, live);
    const b = merged.steps.find((s) => s.name === 'train-b')!;
    expect(b.training).toEqual({ step: 120, totalSteps: 400, loss: 0.5, samplesPerSecond: 33, etaSeconds: 90, checkpoint: 'checkpoints/r/train-b/step-100', phase: 'running', heartbeatAt: 5_000 });
    expect(b).toMatchObject({ attempt: 3, maxAttempts: 10, lastFailure: 'Preempted: the trainer checkpointed' });
    expect(merged.steps.find((s) => s.name === 'train-a')!.training).toBeUndefined();
    expect(p.steps[2].training).toBeUndefined(); // the query's answer is not modified
    const lines = renderProgress(merged, 10_000).join('\n');
    expect(lines).toContain('step 120/400  loss 0.5000  33.0 samples/s  ETA 1m30s');
    expect(lines).toContain('attempt 3/10 (last: Preempted: the trainer checkpointed)');
  });

  it('without a step name, uses the only running step of the activity kind, and never guesses between two', () => {
    const two = mergeLive(table(), [{ activityType: 'train', attempt: 1, details: hb({}) }]);
    expect(two.steps.filter((s) => s.training)).toEqual([]);
    const one = table();
    one.steps[2].state = 'succeeded';
    const merged = mergeLive(one, [{ activityType: 'train', attempt: 1, details: hb({}) }]);
    expect(merged.steps[1].training?.step).toBe(120);
    expect(merged.steps[1].lastFailure).toBeUndefined();
  });

  it('ignores details that are not a heartbeat object, and activities of steps not running', () => {
    expect(trainingFromHeartbeat(undefined)).toBeUndefined();
    expect(trainingFromHeartbeat('x')).toBeUndefined();
    expect(trainingFromHeartbeat({ stage: 'copy', progress: 40 })).toBeUndefined();
    const merged = mergeLive(table(), [{ activityType: 'evaluate', attempt: 1, details: hb({}) }]);
    expect(merged.steps.find((s) => s.name === 'evaluate')!.training).toBeUndefined();
  });
});
