import { log } from '@temporalio/activity';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { badInput, invalidPipeline } from '../common/failures.js';
import { StepResultSchema, type StepResult } from '../common/step-result.js';
import type { LakeStorage } from '../lake/index.js';
import { buildManifest, describeFiles, lakeJoin, MANIFEST_FILE, verifyPublished } from '../lake/index.js';
import {
  RunConfigSchema,
  type RunConfigInput, type TrainerEvent,
} from '../trainer/protocol.js';
import {
  CheckpointUploader, checkpointsPrefix, listLakeCheckpoints, listLocalCheckpoints, pruneLakeCheckpoints, restoreCheckpoint,
  TRAINER_STATE_FILE,
} from './checkpoints.js';
import {
  featuresLabels, featuresTask, modelName, openLakeFor, parseInput, readInput, stableHash, stageSplit,
  trainerCodeVersion, type ResolvedDeps,
} from './common.js';
import { saveAttemptHistory, stitchedHistory, toPoint, type HistoryPoint } from './history.js';
import { currentContext, emptyHeartbeat, failureOf, startHeartbeats, superviseTrainer, type TrainHeartbeat } from './supervise.js';
import { TrainParamsSchema, type TrainParams, type TrainParamsInput } from './params.js';
import { requiredSlots, torchrunEnv } from './distributed.js';
import { combineSlots } from './slots.js';
export { TrainParamsSchema, type TrainParams, type TrainParamsInput } from './params.js';


// resources: N ranks train the same objective on the same rows (docs/distributed-training.md), so the same model.
const OPERATIONAL_KEYS = ['checkpointEverySteps', 'checkpointEverySeconds', 'keepLast', 'progressEverySeconds', 'graceSeconds', 'resources'] as const;

export const TrainInputSchema = z.object({
  /** The lake's root URI. */
  lake: z.string().min(1),
  /** The pipeline run (checkpoints live under `checkpoints/<runId>/<step>/`). */
  runId: z.string().min(1),
  /** The step's name in the pipeline. */
  step: z.string().min(1),
  model: z.string().min(1),
  features: StepResultSchema,
  params: TrainParamsSchema,
});
export type TrainInput = z.input<typeof TrainInputSchema>;

/** Where a train attempt keeps its local files: staged data, run.json, the trainer's checkpoint_dir. */
function localRunDir(d: ResolvedDeps, runId: string, step: string): string {
  return join(d.home, 'runs', stableHash(runId, step));
}

export async function train(d: ResolvedDeps, raw: TrainInput): Promise<StepResult> {
  const input = parseInput(TrainInputSchema, raw, 'train');
  const { params } = input;
  const model = modelName(input.model);
  const ckPrefix = checkpointsPrefix(input.runId, input.step);
  const info = currentContext()?.info;
  const attempt = info?.attempt ?? 1;
  const hb: TrainHeartbeat = { ...emptyHeartbeat(attempt), ...(info?.heartbeatDetails as Partial<TrainHeartbeat> | undefined), phase: 'staging', attempt, pid: null };
  const beats = startHeartbeats(() => hb, d.heartbeatEveryMs);
  const lake = openLakeFor(input.lake, d);
  const runDir = localRunDir(d, input.runId, input.step);
  const localCk = join(runDir, 'checkpoints');
  let workDir: string | undefined;
  let published = false;
  try {
    const nSlots = requiredSlots(params.resources, d.slots.slots.length, `train ${model}`);
    const features = await readInput(lake, input.features, 'features');
    const task = params.task ?? featuresTask(features.manifest);
    if (!task) throw badInput(`features ${input.features.uri}: cannot tell the task (no task in its manifest); set params.task`);
    const labels = params.labels ?? featuresLabels(features.manifest);
    if (!labels) throw badInput(`features ${input.features.uri}: its manifest carries no label map; set params.labels`);

    const codeVersion = await trainerCodeVersion(d.trainerDir);
    const versioned = Object.fromEntries(Object.entries(params).filter(([k]) => !(OPERATIONAL_KEYS as readonly string[]).includes(k)));
    const version = stableHash({ step: 'train', features: input.features.version, model, task, labels, params: versioned, trainer: codeVersion });
    const modelRel = lakeJoin('models', model, version);

    const cached = await verifyPublished(lake, modelRel, version);
    if (cached.ok) return stepResult(lake, input.step, modelRel, cached.manifest, true);

    // Stage the splits the trainer reads (links into the lake, or the staging cache for GCS).
    const dataDir = join(runDir, 'data');
    await mkdir(runDir, { recursive: true });
    const splits = {
      train: await stageSplit(lake, features.rel, 'train', dataDir),
      val: await stageSplit(lake, features.rel, 'val', dataDir),
    };
    if (!splits.train) throw badInput(`features ${input.features.uri} has no split=train part files`);

    // Resume: attempt 1 starts afresh (stale checkpoints of this run/step are dropped); a retry resumes from the
    // newest complete checkpoint it can find: the heartbeat's, the lake's, or one still on this worker's disk.
    let resumeFrom: string | null = null;
    const history: HistoryPoint[] = [];
    if (attempt <= 1) {
      await lake.removePrefix(ckPrefix);
      await rm(localCk, { recursive: true, force: true });
    } else {
      hb.phase = 'restoring';
      beats.beat();
      const r = await resolveResume(lake, ckPrefix, localCk, hb);
      resumeFrom = r?.path ?? null;
      // Where the resume came from, for the record (a checkpoint on this disk, or one restored from the lake).
      if (r) history.push({ attempt, event: 'resume', step: r.step, ts: Date.now() / 1000, source: r.source });
    }

    workDir = await lake.createWorkDir(modelRel);
    const run: RunConfigInput = {
      task,
      model: params.model,
      tokenizer: params.tokenizer,
      data: { train: splits.train, val: splits.val, test: null, max_length: params.maxLength },
      labels,
      hparams: params.hparams,
      checkpoint_dir: localCk,
      checkpoint_every_steps: params.checkpointEverySteps,
      checkpoint_every_seconds: params.checkpointEverySeconds,
      keep_last: params.keepLast,
      resume_from: resumeFrom,
      output_dir: workDir,
      seed: params.seed,
      deterministic: params.deterministic,
      progress_every_seconds: params.progressEverySeconds,
    };
    const checked = RunConfigSchema.safeParse(run);
    if (!checked.success) throw invalidPipeline(`train: the run config is invalid: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const configPath = join(runDir, `run-attempt-${attempt}.json`);
    await writeFile(configPath, JSON.stringify(run, null, 2));

    let bestStep: number | null = null;
    const uploader = new CheckpointUploader(lake, ckPrefix, join(runDir, 'sync'), async (ck) => {
      hb.checkpoint = ck.rel;
      hb.checkpoint_step = ck.step;
      await saveAttemptHistory(lake, ckPrefix, attempt, history);
      await pruneLakeCheckpoints(lake, ckPrefix, params.keepLast, bestStep !== null ? [bestStep] : []);
      beats.beat();
    }, (step, err) => {
      // Costs resume distance, never the run: the next checkpoint is uploaded anyway.
      log.warn('checkpoint sync failed', { step, error: String(err) });
    });

    // All N slots at once, or none (SlotAllocator): a multi-GPU step never sits on part of them.
    const hold = await d.slots.acquireMany(nSlots, currentContext()?.cancellationSignal);
    const slot = { ...combineSlots(hold.slots), release: hold.release };
    let outcome;
    try {
      hb.slot = slot.id;
      hb.phase = 'running';
      const onEvent = (e: TrainerEvent) => {
        d.onTrainerEvent?.(e, { mode: 'train', model, attempt, pid: hb.pid ?? -1, runId: input.runId, step: input.step });
        const p = toPoint(attempt, e);
        if (p) history.push(p);
        if (e.event === 'started') {
          hb.resumed_from_step = e.resumed_from_step;
          hb.total_steps = e.total_steps ?? hb.total_steps;
          hb.step = e.resumed_from_step ?? 0;
        } else if (e.event === 'progress') {
          Object.assign(hb, { step: e.step, loss: e.loss, samples_per_s: e.samples_per_s, eta_s: e.eta_s, epoch: e.epoch });
          if (e.total_steps !== undefined) hb.total_steps = e.total_steps;
        } else if (e.event === 'eval' && e.is_best) {
          bestStep = e.step;
        } else if (e.event === 'checkpoint') {
          if (e.reason === 'best') bestStep = e.step;
          uploader.offer(e.step, e.path, e.reason);
        } else if (e.event === 'done') {
          hb.step = e.steps;
        }
        beats.beat();
      };
      outcome = await superviseTrainer({
        python: d.python, trainerDir: d.trainerDir, mode: 'train', configPath, slot,
        env: nSlots > 1 ? { ...d.trainerEnv, ...torchrunEnv((params.graceSeconds ?? d.graceMs / 1000) * 1000) } : d.trainerEnv,
        graceMs: (params.graceSeconds ?? d.graceMs / 1000) * 1000, onEvent,
        onStart: (pid) => { hb.pid = pid; beats.beat(); },
        shutdownSignal: d.shutdownSignal,
        drain: () => { hb.phase = 'syncing'; return uploader.drain(); },
        torchrun: nSlots > 1 ? { nprocPerNode: nSlots } : undefined,
      });
    } finally {
      slot.release();
      hb.pid = null;
    }

    const { exit, cancelled } = outcome;
    // A run the user cancelled ends cancelled, whatever the trainer's exit said; a shutdown's cancel is a preemption.
    if (cancelled && !currentContext()?.cancellationDetails?.workerShutdown) throw cancelled;
    const failure = failureOf(exit, `train ${model}`);
    if (failure) {
      if (failure.nonRetryable) await rm(runDir, { recursive: true, force: true });
      throw failure;
    }
    const done = exit.done!;

    hb.phase = 'publishing';
    beats.beat();
    const stitched = await stitchedHistory(lake, ckPrefix, attempt, history);
    await writeFile(join(workDir, 'training_history.json'), JSON.stringify({ attempts: attempt, points: stitched }, null, 1));
    const resumedFrom = stitched.filter((p) => p.event === 'started' && p.resumed_from_step).map((p) => p.resumed_from_step!);
    const files = await describeFiles(workDir, async () => 0);
    const metrics = { ...done.metrics, steps: done.steps, attempts: attempt, resumed_from_step: resumedFrom.length ? resumedFrom[resumedFrom.length - 1] : 0 };
    const manifest = buildManifest({
      version, step: input.step, inputs: [input.features.version], params: { ...params, modelName: model, task, labels },
      files, schema: [],
      extra: { kind: 'model', model, task, labels, metrics, trainerCodeVersion: codeVersion, runId: input.runId, resumedFrom, features: input.features.uri },
    });
    const outcomePublish = await lake.publish(workDir, modelRel, manifest);
    published = true;
    await rm(runDir, { recursive: true, force: true });
    const final = outcomePublish === 'published' ? manifest : ((await verifyPublished(lake, modelRel, version)).manifest ?? manifest);
    return stepResult(lake, input.step, modelRel, final, outcomePublish !== 'published');
  } finally {
    beats.stop();
    if (workDir && !published) await lake.discardWorkDir(workDir).catch(() => {});
  }
}

/** Picks the newest complete checkpoint among the heartbeat's, the lake's and this disk's; restores it if needed. */
async function resolveResume(lake: LakeStorage, prefix: string, localCk: string, hb: TrainHeartbeat): Promise<{ path: string; step: number; source: 'local' | 'lake' } | null> {
  const inLake = await listLakeCheckpoints(lake, prefix);
  const local = await listLocalCheckpoints(localCk);
  const newestLake = inLake[inLake.length - 1];
  const newestLocal = local[local.length - 1];
  // The heartbeat names a lake checkpoint; it is in `inLake` unless pruned, and then a newer one is.
  if (hb.checkpoint_step !== null && !inLake.some((c) => c.step === hb.checkpoint_step) && !local.some((c) => c.step === hb.checkpoint_step)) {
    log.warn('the heartbeat names a checkpoint no longer found; using the newest one', { checkpoint: hb.checkpoint });
  }
  if (!newestLake && !newestLocal) return null;
  let path: string;
  let source: 'local' | 'lake';
  let step: number;
  if (newestLocal && (!newestLake || newestLocal.step >= newestLake.step)) {
    // Still on this disk (same worker, or a preempt checkpoint written after the last upload): no download.
    ({ path, step } = newestLocal);
    source = 'local';
  } else {
    path = await restoreCheckpoint(lake, newestLake!, localCk);
    step = newestLake!.step;
    source = 'lake';
  }
  // The trainer exports its best checkpoint at the end; a resume on another machine needs that one too.
  try {
    const state = JSON.parse(await readFile(join(path, TRAINER_STATE_FILE), 'utf8')) as { best_step?: number | null };
    const best = state.best_step;
    if (typeof best === 'number' && !local.some((c) => c.step === best) && !path.endsWith(`step-${best}`)) {
      const ck = inLake.find((c) => c.step === best);
      if (ck) await restoreCheckpoint(lake, ck, localCk);
    }
  } catch (err) {
    log.warn('could not read the resume checkpoint state', { path, error: String(err) });
  }
  return { path, step, source };
}

export function stepResult(lake: LakeStorage, step: string, rel: string, manifest: { version: string; rows: number; metrics?: unknown }, cached: boolean): StepResult {
  const metrics = numericMetrics((manifest as { metrics?: unknown }).metrics);
  return {
    step,
    version: manifest.version,
    uri: lake.uri(rel),
    cached,
    rows: manifest.rows,
    ...(metrics ? { metrics } : {}),
    manifest: lake.uri(lakeJoin(rel, MANIFEST_FILE)),
  };
}

function numericMetrics(m: unknown): Record<string, number> | undefined {
  if (!m || typeof m !== 'object') return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  return Object.keys(out).length ? out : undefined;
}
