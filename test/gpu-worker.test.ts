// The GPU worker as its own process (npx tsx workers/gpu.ts): SIGKILL it mid-training, start another, and the run
// completes from the checkpoint; the dead worker's trainer must not survive it (its stdin pipe closes, it
// checkpoints and exits).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { connectTestServer, uniqueTaskQueue } from './helpers/temporal.js';
import { makeLocalLake, type TestLake } from './fixtures/lake-helpers.js';
import { pendingHeartbeat, publishFeatures, tinyTrainParams, TRAINER_PYTHON, waitFor } from './fixtures/training-helpers.js';
import { REPO_ROOT } from '../activities/common/config.js';
import type { HistoryPoint } from '../steps/train/history.js';
import type { StepResult } from '../contracts/step-result.js';
import type { TrainingTestArgs } from './fixtures/training-workflows.js';

const WORKFLOWS = fileURLToPath(new URL('./fixtures/training-workflows.ts', import.meta.url));

/** Alive and not a zombie: a zombie holds no memory, GPU or files. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

interface WorkerProc { child: ChildProcess; pid: () => Promise<number>; log: () => string }

describe('GPU worker process', () => {
  let server: Awaited<ReturnType<typeof connectTestServer>>;
  let tl: TestLake;
  let features: StepResult;
  let wfWorker: Worker;
  let wfRunning: Promise<void>;
  const wfQueue = uniqueTaskQueue('wf');
  const gpuQueue = uniqueTaskQueue('gpu-proc');
  const procs: WorkerProc[] = [];

  function startGpuWorker(): WorkerProc {
    const child = spawn('npx', ['tsx', 'workers/gpu.ts'], {
      cwd: REPO_ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: server.address,
        LAKEFORGE_GPU_TASK_QUEUE: gpuQueue,
        LAKEFORGE_HOME: tl.home,
        LAKEFORGE_GPUS: '0',
        LAKEFORGE_TRAINER_GRACE_S: '20',
        OMP_NUM_THREADS: '1',
        // Heartbeats reach the server at most every 8 s (80% of the 10 s timeout): slow the tiny model's steps so
        // an idle machine cannot finish all 48 before the test sees a checkpoint and kills the worker.
        LAKEFORGE_TRAINER_STEP_SLEEP: '0.4',
      },
    });
    let out = '';
    child.stdout!.on('data', (b) => (out += b));
    child.stderr!.on('data', (b) => (out += b));
    const p: WorkerProc = {
      child,
      log: () => out,
      // npx and tsx each add a process; the worker itself reports its pid once it polls.
      pid: () => waitFor('the GPU worker to poll', () => {
        if (child.exitCode !== null) throw new Error(`GPU worker exited ${child.exitCode}:\n${out}`);
        const m = /GPU worker polling (\S+) with 1 slot\(s\): cpu \(pid (\d+)\)/.exec(out);
        return m ? Number(m[2]) : undefined;
      }, 120_000, 100),
    };
    procs.push(p);
    return p;
  }

  beforeAll(async () => {
    server = await connectTestServer();
    tl = await makeLocalLake();
    // The worker resolves its python under LAKEFORGE_HOME; share the repository's venv.
    await symlink(dirname(dirname(TRAINER_PYTHON)), join(tl.home, 'venv'));
    features = await publishFeatures(tl.lake);
    wfWorker = await Worker.create({ connection: server.nativeConnection, taskQueue: wfQueue, workflowsPath: WORKFLOWS });
    wfRunning = wfWorker.run();
  });
  afterAll(async () => {
    for (const p of procs) {
      try { process.kill(-p.child.pid!, 'SIGKILL'); } catch { /* gone */ }
    }
    if (wfWorker?.getState() === 'RUNNING') wfWorker.shutdown();
    await wfRunning;
    await server?.close();
    await tl?.cleanup();
  });

  it('SIGKILL of the worker mid-training: no trainer survives it, and another worker completes the run from the checkpoint', async () => {
    const t0 = Date.now();
    const a = startGpuWorker();
    const workerPid = await a.pid();
    process.stderr.write(`[test] worker polling after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    const runId = `wkill-${Date.now()}`;
    const args: TrainingTestArgs = {
      lake: tl.uri, runId, model: 'tiny-wkill', features, gpuQueue, heartbeatTimeout: '10s', maxAttempts: 4,
      train: tinyTrainParams({ hparams: { epochs: 4 }, checkpointEverySteps: 4 }),
    };
    const handle = await server.client.workflow.start('trainingTestWorkflow', { taskQueue: wfQueue, workflowId: `wf-${runId}`, args: [args] });

    const hb = await waitFor('a checkpoint in the heartbeat', async () => {
      const h = await pendingHeartbeat(server.client, handle.workflowId);
      const d = h?.details as { step?: number; checkpoint_step?: number; pid?: number } | undefined;
      return d && d.pid && (d.checkpoint_step ?? 0) >= 8 && (d.step ?? 0) < 44 ? d : undefined;
    }, 170_000, 200);
    const trainerPid = hb.pid!;
    process.stderr.write(`[test] mid-training at step ${hb.step} after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    expect(running(trainerPid)).toBe(true);

    const killedAt = Date.now();
    process.kill(workerPid, 'SIGKILL');
    const goneAt = await waitFor('the orphaned trainer to exit', () => (!running(trainerPid) ? Date.now() : undefined), 60_000, 20);
    process.stderr.write(`[measure] worker SIGKILL: its trainer (pid ${trainerPid}) exited ${((goneAt - killedAt) / 1000).toFixed(1)} s later\n`);

    const b = startGpuWorker();
    await b.pid();
    process.stderr.write(`[test] second worker polling ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill\n`);
    const { trained } = await handle.result().catch((err) => {
      process.stderr.write(`--- worker A ---\n${a.log().slice(-4000)}\n--- worker B ---\n${b.log().slice(-6000)}\n`);
      throw err;
    });
    expect(trained.metrics).toMatchObject({ steps: 48, attempts: 2 });
    expect(trained.metrics!.resumed_from_step).toBeGreaterThan(0);
    expect(trained.metrics!.resumed_from_step).toBeGreaterThanOrEqual(hb.checkpoint_step!);

    const history = JSON.parse((await tl.lake.readText(`models/tiny-wkill/${trained.version}/training_history.json`))!) as { points: HistoryPoint[] };
    const started2 = history.points.find((p) => p.event === 'started' && p.attempt === 2)!;
    const resumed = started2.resumed_from_step!;
    const firstProgress = history.points.find((p) => p.event === 'progress' && p.attempt === 2 && p.step > resumed)!;
    const lastBeforeKill = Math.max(...history.points.filter((p) => p.attempt === 1 && p.event === 'progress').map((p) => p.step), hb.step ?? 0);
    process.stderr.write(`[measure] worker SIGKILL: heartbeat showed step ${hb.step}, newest synced checkpoint ${hb.checkpoint_step}; resumed from step ${resumed} (${Math.max(0, lastBeforeKill - resumed)} step(s) lost vs. the last step seen); kill → resumed training ${((firstProgress.ts! * 1000 - killedAt) / 1000).toFixed(1)} s (includes the 10 s heartbeat timeout and a new worker's start)\n`);
    expect(Math.max(...history.points.filter((p) => p.event === 'progress').map((p) => p.step))).toBe(48);
  }, 400_000);
});
