// Priority and fair share through the real dev server's matcher (matching.useNewMatcher + enableFairness, set by
// infra/temporal/server.mjs), measured by test/helpers/priority-order.ts. Priorities come from workflows/priority.ts,
// as the pipeline computes them. After a long hold (the queue unloaded and reloaded): test/priority-reload.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestServer } from './helpers/temporal.js';
import { startOrder } from './helpers/priority-order.js';
import { BACKFILL_LATENESS_MS, isBackfill, runStartPriority, stepPriority } from '../workflows/priority.js';

describe('workflows/priority.ts: the mapping from spec and run to Temporal priority', () => {
  it('step over backfill over the run\'s start priority over the spec over 3', () => {
    expect(stepPriority({})).toEqual({ priorityKey: 3 });
    expect(stepPriority({ priority: 4 })).toEqual({ priorityKey: 4 });
    expect(stepPriority({ priority: 4 }, {}, { started: { priorityKey: 1 } })).toEqual({ priorityKey: 1 });
    expect(stepPriority({ priority: 1 }, {}, { started: { priorityKey: 1 }, backfill: true })).toEqual({ priorityKey: 5 });
    expect(stepPriority({ priority: 4 }, { priority: 2 }, { started: { priorityKey: 1 }, backfill: true })).toEqual({ priorityKey: 2 });
    expect(runStartPriority({ priority: 4 }, 2)).toEqual({ priorityKey: 2 });
  });
  it('the team is the fairness key, with its weight; a weight without a team is dropped', () => {
    expect(stepPriority({ team: 'nlp', fairnessWeight: 2 })).toEqual({ priorityKey: 3, fairnessKey: 'nlp', fairnessWeight: 2 });
    expect(stepPriority({}, {}, { started: { priorityKey: 2, fairnessKey: 'vision' } })).toEqual({ priorityKey: 2, fairnessKey: 'vision' });
    expect(stepPriority({ fairnessWeight: 2 })).toEqual({ priorityKey: 3 });
  });
  it('a scheduled run started well after its scheduled time is a backfill', () => {
    const now = new Date('2026-11-02T03:00:00Z');
    expect(isBackfill(undefined, now)).toBe(false);
    expect(isBackfill(new Date(now.getTime() - 2000), now)).toBe(false);
    expect(isBackfill(new Date(now.getTime() - BACKFILL_LATENESS_MS - 1), now)).toBe(true);
  });
});

describe('task priority and fair share on the GPU queue (real dev server)', () => {
  let server: Awaited<ReturnType<typeof connectTestServer>>;
  beforeAll(async () => { server = await connectTestServer(); });
  afterAll(async () => { await server?.close(); });

  const queued = (runs: Parameters<typeof startOrder>[1]) => startOrder(server, runs);

  it('a queued train of a priority-1 run starts before priority 3, before priority 5, whatever the queue order', async () => {
    const { order, scheduledPriority } = await queued([
      { label: 'p5', spec: { priority: 5 } }, { label: 'p3', spec: { priority: 3 } }, { label: 'p1', spec: { priority: 1 } },
    ]);
    process.stderr.write(`[priority] queued 5,3,1 with priority: started ${order.join(',')}\n`);
    expect(scheduledPriority.p1).toMatchObject({ priorityKey: 1 });
    expect(order).toEqual(['p1', 'p3', 'p5']);
  });

  it('without priority the same queue is served first in, first out', async () => {
    const { order } = await queued([
      { label: 'p5', spec: null }, { label: 'p3', spec: null }, { label: 'p1', spec: null },
    ]);
    process.stderr.write(`[priority] queued 5,3,1 without priority: started ${order.join(',')}\n`);
    expect(order).toEqual(['p5', 'p3', 'p1']);
  });

  it('fair share: a team\'s single run starts before another team\'s many queued tasks drain', async () => {
    const many = Array.from({ length: 6 }, (_, i) => ({ label: `a${i}`, spec: { priority: 3, team: 'team-a' } }));
    const { order, scheduledPriority } = await queued([...many, { label: 'b0', spec: { priority: 3, team: 'team-b' } }]);
    process.stderr.write(`[priority] team-a ×6 then team-b ×1: started ${order.join(',')}\n`);
    expect(scheduledPriority.b0).toMatchObject({ priorityKey: 3, fairnessKey: 'team-b' });
    expect(order.indexOf('b0')).toBeLessThan(order.length - 1);
    expect(order.indexOf('b0')).toBeLessThanOrEqual(1);
  });

  it('without teams the same queue leaves the single run last', async () => {
    const many = Array.from({ length: 6 }, (_, i) => ({ label: `a${i}`, spec: { priority: 3 } }));
    const { order } = await queued([...many, { label: 'b0', spec: { priority: 3 } }]);
    process.stderr.write(`[priority] ×7 without teams: started ${order.join(',')}\n`);
    expect(order.at(-1)).toBe('b0');
  });
});
