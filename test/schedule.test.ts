// Temporal Schedules for pipelines through the SDK module (sdk/schedules.ts), with in-process workers: cron spec and
// overlap policy as created, memo/search attributes naming the pipeline, backfill runs that each get the schedule's
// suffix and their own run key, and invalid specs rejected before anything reaches the server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import type { DuckDBInstance } from '@duckdb/node-api';
import { createDuckDb } from '../activities/duckdb/instance.js';
import { createEtlActivities } from '../steps/index.js';
import { openLake } from '../activities/lake/index.js';
import { generateTextClassification } from '../examples/generate-lib.js';
import { LakeforgePipeline } from '../contracts/search-attributes.js';
import { InvalidPipelineError } from '../sdk/load-spec.js';
import { createPipelineSchedule, describePipelineSchedule, listPipelineSchedules, scheduledRunKey } from '../sdk/schedules.js';
import { connectTestServer, uniqueTaskQueue, workflowBundle } from './helpers/temporal.js';

let server: Awaited<ReturnType<typeof connectTestServer>>;
let db: DuckDBInstance;
let tmp: string;
let lake: string;
const queues = { etl: uniqueTaskQueue('sched-etl'), gpu: uniqueTaskQueue('sched-gpu') };
const pipeline = `sched-news-${Math.random().toString(36).slice(2, 8)}`;
const spec = () => ({ ...parse(readFileSync('test/fixtures/cli/news-etl.yaml', 'utf8')), name: pipeline });

beforeAll(async () => {
  server = await connectTestServer();
  tmp = mkdtempSync(join(tmpdir(), 'lakeforge-sched-'));
  lake = pathToFileURL(join(tmp, 'lake')).href;
  db = await createDuckDb({ tempDirectory: join(tmp, 'duckdb'), threads: 1 });
  await generateTextClassification({ lake: openLake(lake, { home: tmp }), dataset: 'news', rows: 300, seed: 5 });
});

afterAll(async () => {
  db?.closeSync();
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('pipeline schedules (Temporal Schedules)', () => {
  it('rejects an invalid spec before anything reaches the server', async () => {
    const bad = { ...spec(), steps: [{ name: 'features', uses: 'features', needs: ['nope'], with: { task: 'text-classification' } }] };
    await expect(createPipelineSchedule(server.client, bad, { every: '1h', lake, queues })).rejects.toBeInstanceOf(InvalidPipelineError);
  });

  it('creates a cron schedule with its overlap policy; backfilled runs carry the schedule suffix and their own run keys', async () => {
    // Its steps on a queue of their own: activity tasks whose priority the history shows (small steps on the
    // workflow's own queue run inline, as local activities, and carry none).
    const stepsQueue = `${queues.etl}-steps`;
    const pinned = spec();
    pinned.steps = pinned.steps.map((st: Record<string, unknown>) => ({ ...st, queue: stepsQueue }));
    const handle = await createPipelineSchedule(server.client, pinned, {
      cron: ['0 3 * * *'], overlap: 'BUFFER_ONE', paused: true, lake, queues, priority: 2,
    });
    try {
      expect(handle.scheduleId).toBe(`lakeforge-${pipeline}`);
      const d = await describePipelineSchedule(server.client, handle.scheduleId);
      expect(d).toMatchObject({
        pipeline, paused: true, overlap: ScheduleOverlapPolicy.BUFFER_ONE, timing: 'cron "0 3 * * *"', taskQueue: queues.etl,
        workflowIdPrefix: `lakeforge/${pipeline}/${scheduledRunKey(handle.scheduleId)}`,
      });
      expect(d.nextActionTimes[0].toISOString()).toMatch(/T03:00:00\.000Z$/);
      const raw = await handle.describe();
      expect(raw.typedSearchAttributes.get(LakeforgePipeline)).toBe(pipeline);
      expect(raw.memo).toMatchObject({ pipeline, createdBy: 'lakeforge' });
      expect((await listPipelineSchedules(server.client, { pipeline })).map((s) => s.scheduleId)).toEqual([handle.scheduleId]);

      const worker = await Worker.create({
        connection: server.nativeConnection, taskQueue: queues.etl, ...workflowBundle(),
        activities: createEtlActivities({ duckdb: db, home: tmp }),
      });
      const stepsWorker = await Worker.create({
        connection: server.nativeConnection, taskQueue: stepsQueue, activities: createEtlActivities({ duckdb: db, home: tmp }),
      });
      await stepsWorker.runUntil(() => worker.runUntil(async () => {
        // Backfill runs even while paused; BUFFER_ALL runs each missed 03:00 once, one after the other.
        await handle.backfill({ start: new Date('2026-11-01T00:00:00Z'), end: new Date('2026-11-02T12:00:00Z'), overlap: ScheduleOverlapPolicy.BUFFER_ALL });
        const ids = ['2026-11-01T03:00:00Z', '2026-11-02T03:00:00Z'].map((t) => `lakeforge/${pipeline}/sched-${handle.scheduleId}-${t}`);
        const outputs: { runKey: string }[] = [];
        for (const id of ids) {
          const deadline = Date.now() + 120_000;
          for (;;) {
            try {
              outputs.push(await server.client.workflow.getHandle(id).result());
              break;
            } catch (err) {
              // Not started yet: BUFFER_ALL starts the next run when the previous one ends.
              if ((err as Error).name !== 'WorkflowNotFoundError' || Date.now() > deadline) throw err;
              await new Promise((r) => setTimeout(r, 500));
            }
          }
        }
        // The run key fixed in the schedule's input is made unique per run by the workflow (no shared checkpoints).
        expect(outputs.map((o) => o.runKey)).toEqual(ids.map((id) => id.slice(`lakeforge/${pipeline}/`.length)));
        // The schedule's runs start at its --priority; a backfilled run's steps go at the lowest priority, 5.
        const events = (await server.client.workflow.getHandle(ids[0]).fetchHistory()).events ?? [];
        expect(events[0].workflowExecutionStartedEventAttributes?.priority?.priorityKey).toBe(2);
        const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.priority?.priorityKey);
        expect(scheduled.length).toBeGreaterThan(0);
        expect(new Set(scheduled)).toEqual(new Set([5]));
        const d2 = await describePipelineSchedule(server.client, handle.scheduleId);
        expect(d2.recentRuns.map((r) => r.workflowId)).toEqual(ids);
      }));
    } finally {
      await handle.delete();
    }
  });
});
