// Priority after a long training (issue 26): while the one GPU slot is held, nothing polls the GPU queue; after
// matching.maxTaskQueueIdleTime the server unloads it, and on reload the new matcher dispatched the first backlog
// task in allocation order, not by priority. The GPU worker keeps its queue loaded (workers/queue-keepalive.ts).
// A dev server of the test's own with the idle time cut from 5 minutes to 2 seconds, so a hold of 6 seconds
// stands for an 11-minute training; the project's matcher settings as infra/temporal/server.mjs sets them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureGoTool } from '../infra/tools.mjs';
import { freePort, spawnDevServer } from '../infra/temporal/server.mjs';
import { connectServer } from './helpers/temporal.js';
import { startOrder } from './helpers/priority-order.js';

const IDLE_MS = 2000;
/** Longer than the idle time, many times over: the queue would unload during it. */
const HOLD_MS = 3 * IDLE_MS;
/** As the GPU worker does it, scaled like the idle time (60 s against 5 min there). */
const KEEPALIVE_MS = 400;

let child: ChildProcess | undefined;
let tmp: string;
let server: Awaited<ReturnType<typeof connectServer>>;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'lakeforge-prio-reload-'));
  const port = await freePort();
  child = await spawnDevServer({
    temporalBin: await ensureGoTool('temporal'), port, uiPort: null, dbFile: null, logFile: join(tmp, 'server.log'),
    dynamicConfig: {
      'matching.maxTaskQueueIdleTime': `${IDLE_MS / 1000}s`,
      // The server requires long polls shorter than the idle time (a waiting poll is not liveness).
      'matching.longPollExpirationInterval': '1s',
    },
  });
  server = await connectServer(`127.0.0.1:${port}`);
}, 120_000);

afterAll(async () => {
  await server?.close();
  try { process.kill(-child!.pid!, 'SIGKILL'); } catch { /* gone */ }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('priority and fair share hold when the slot frees after a hold longer than the queue idle time', () => {
  it('queued 5, 1, 3: the freed slot goes to 1, then 3, then 5', async () => {
    const { order, scheduledPriority } = await startOrder(server, [
      { label: 'p5', spec: { priority: 5 } }, { label: 'p1', spec: { priority: 1 } }, { label: 'p3', spec: { priority: 3 } },
    ], { holdAfterQueuedMs: HOLD_MS, keepAliveMs: KEEPALIVE_MS });
    process.stderr.write(`[priority-reload] queued 5,1,3, slot held ${HOLD_MS} ms (idle ${IDLE_MS} ms): started ${order.join(',')}\n`);
    expect(scheduledPriority.p1).toMatchObject({ priorityKey: 1 });
    expect(order).toEqual(['p1', 'p3', 'p5']);
  });

  it('fair share: a team\'s single run is not starved by another team\'s backlog', async () => {
    const many = Array.from({ length: 6 }, (_, i) => ({ label: `a${i}`, spec: { priority: 3, team: 'team-a' } }));
    const { order } = await startOrder(server, [...many, { label: 'b0', spec: { priority: 3, team: 'team-b' } }],
      { holdAfterQueuedMs: HOLD_MS, keepAliveMs: KEEPALIVE_MS });
    process.stderr.write(`[priority-reload] team-a ×6 then team-b ×1, slot held ${HOLD_MS} ms: started ${order.join(',')}\n`);
    expect(order.indexOf('b0')).toBeLessThanOrEqual(1);
  });
});

describe('LAKEFORGE_QUEUE_KEEPALIVE_S', () => {
  it('defaults to a minute, 0 turns it off, and a bad value names the variable', async () => {
    const { keepAliveIntervalMs } = await import('../workers/queue-keepalive.js');
    expect(keepAliveIntervalMs({})).toBe(60_000);
    expect(keepAliveIntervalMs({ LAKEFORGE_QUEUE_KEEPALIVE_S: '0' })).toBe(0);
    expect(keepAliveIntervalMs({ LAKEFORGE_QUEUE_KEEPALIVE_S: '30' })).toBe(30_000);
    expect(() => keepAliveIntervalMs({ LAKEFORGE_QUEUE_KEEPALIVE_S: 'soon' })).toThrow(/LAKEFORGE_QUEUE_KEEPALIVE_S.*"soon"/);
  });
});
