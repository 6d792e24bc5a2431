// What gang placement adds to a multi-node train step on a free pool (docs/distributed-training.md#gang-placement):
// two GPU workers of one CPU slot each (members of the queue's slot broker), and `--runs` 2-node tiny trains one
// after the other. From each group's history: request → grant (the group's signal to the broker, the broker's
// reservation round on both workers, its answer), against the baseline taken in the same runs, one node activity's
// dispatch (scheduled → started on its worker: what placing a node cost before the broker, and what it still costs).
//   npx tsx bench/gang.ts [--runs 10]
import { join } from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { Worker } from '@temporalio/worker';
import { startServer } from '../infra/temporal/server.mjs';
import { connectClient, connectWorker } from '../activities/common/temporal-connection.js';
import { REPO_ROOT } from '../activities/common/config.js';
import { openLake } from '../activities/lake/index.js';
import { createGpuActivities, parseGpuSpec, SlotAllocator } from '../steps/index.js';
import { joinGang } from '../workers/gang-member.js';
import { workflowCode } from '../workers/workflows-path.js';
import { publishFeatures, tinyTrainParams, TRAINER_PYTHON } from '../test/fixtures/training-helpers.js';
import type { DistributedTrainInput } from '../workflows/distributed-train.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const RUNS = Number(values.runs);
const log = (m: string) => process.stderr.write(`[gang] ${new Date().toISOString()} ${m}\n`);

await startServer({ log });
process.env.LAKEFORGE_RDZV_HOST = '127.0.0.1';
const client = await connectClient();
const connection = await connectWorker();
const out = join(REPO_ROOT, 'bench', 'out', 'gang');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const lakeUri = pathToFileURL(join(out, 'lake')).href;
const lake = openLake(lakeUri, { home: join(out, 'home') });
const features = await publishFeatures(lake);
const gpuQueue = `bench-gang-${Date.now()}`;

// Workflows (the groups, the broker) on the shared queue; two members, each its own queue and slot.
const workflows = await Worker.create({ connection, taskQueue: gpuQueue, ...(await workflowCode()) });
const members = await Promise.all(['m1', 'm2'].map(async (id) => {
  const slots = new SlotAllocator(parseGpuSpec('cpu:1')!);
  const home = join(out, `home-${id}`);
  const activities = createGpuActivities({ home, python: TRAINER_PYTHON, slots, trainerEnv: { OMP_NUM_THREADS: '1' } });
  return joinGang({ connection, gpuQueue, slots, activities: { trainNode: activities.trainNode }, workerId: id });
}));
const running = [workflows.run(), ...members.map((m) => m.run())];

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
const grants: number[] = [];
const dispatches: number[] = [];
for (let i = 0; i <= RUNS; i++) {
  const runId = `bench-${Date.now()}-${i}`;
  const args: DistributedTrainInput = {
    nnodes: 2,
    input: { lake: lakeUri, dataset: 'test', runId, step: 'train', model: `tiny-${runId}`, inputs: { features }, params: tinyTrainParams({ hparams: { epochs: 1 }, resources: { gpus: 2, gpusPerNode: 1 } }) },
    activity: { taskQueue: gpuQueue, startToCloseTimeout: '10 minutes', heartbeatTimeout: '30s', retry: { maximumAttempts: 1 } },
  };
  const h = await client.workflow.start('distributedTrainWorkflow', { taskQueue: gpuQueue, workflowId: `bench-gang-${runId}`, args: [args] });
  await h.result();
  if (i === 0) continue; // warm-up: the broker's first workflow task, the trainer's first import
  const ev = (await h.fetchHistory()).events!;
  const asked = ev.find((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName === 'gangRequest');
  const granted = ev.find((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'gangGranted');
  grants.push(ms(granted!.eventTime) - ms(asked!.eventTime));
  const scheduled = new Map(ev.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), ms(e.eventTime)]));
  for (const e of ev.filter((x) => x.activityTaskStartedEventAttributes)) {
    dispatches.push(ms(e.eventTime) - scheduled.get(String(e.activityTaskStartedEventAttributes!.scheduledEventId))!);
  }
  log(`run ${i}: request → grant ${grants.at(-1)!.toFixed(1)} ms`);
}

const q = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))]; };
const grantP50 = q(grants, 0.5);
const dispatchP50 = q(dispatches, 0.5);
process.stdout.write([
  `| n=${RUNS} groups of 2 nodes, free pool of 2 one-slot workers | p50 | p95 |`,
  '|---|---|---|',
  `| request → grant (broker admission) | ${grantP50.toFixed(1)} ms | ${q(grants, 0.95).toFixed(1)} ms |`,
  `| baseline: one node activity's dispatch (scheduled → started) | ${dispatchP50.toFixed(1)} ms | ${q(dispatches, 0.95).toFixed(1)} ms |`,
  `| grant ÷ dispatch | ${(grantP50 / dispatchP50).toFixed(2)}× | |`,
  '',
].join('\n'));

for (const m of members) await m.leave();
workflows.shutdown();
for (const m of members) m.worker.shutdown();
await Promise.all(running);
await connection.close();
