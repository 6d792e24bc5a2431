// train: features → models/<model>/<version>/, in the trainer process on a GPU slot, through the kernel.
// A retry resumes from the newest complete checkpoint (heartbeat, lake or local disk): see resolveResume.
import { log } from '@temporalio/activity';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput, invalidPipeline } from '../../contracts/failures.js';
import type { StepInput } from '../../contracts/step-input.js';
import type { StepResult } from '../../contracts/step-result.js';
import type { LakeStorage } from '../../activities/lake/index.js';
import { buildManifest, describeFiles, lakeJoin, modelName } from '../../activities/lake/index.js';
import { RunConfigSchema, type RunConfigInput, type TrainerEvent } from '../../contracts/trainer-protocol.js';
import {
  CheckpointUploader, checkpointsPrefix, listLakeCheckpoints, listLocalCheckpoints, pruneLakeCheckpoints, restoreCheckpoint,
  TRAINER_STATE_FILE,
} from './checkpoints.js';
import { trainerCodeVersion, type ResolvedDeps } from '../../activities/trainer/deps.js';
import { featuresLabels, featuresTask } from '../../activities/trainer/features-meta.js';
import { currentContext } from '../../activities/kernel/context.js';
import { runStep, type StepImpl } from '../../activities/kernel/lifecycle.js';
import { stageSplit } from '../../activities/kernel/stage.js';
import { localKey, stepVersion } from '../../activities/kernel/version.js';
import { saveAttemptHistory, stitchedHistory, toPoint, type HistoryPoint } from './history.js';
import { emptyHeartbeat, failureOf, startHeartbeats, superviseTrainer, type TrainHeartbeat } from '../../activities/trainer/supervise.js';
import type { Task } from '../../contracts/trainer-protocol.js';
import { nodesOf, requiredSlots, torchrunEnv, type TorchrunOptions } from '../../activities/trainer/distributed.js';
import { nodeRendezvous, SilentNode, type TrainNodeDeps } from './node.js';
import { combineSlots } from '../../activities/trainer/slots.js';
export { TrainParamsSchema, type TrainParams, type TrainParamsInput } from './params.js';
import { tokenizerOf } from './params.js';

// resources: N ranks train the same objective on the same rows (docs/distributed-training.md), so the same model.
const OPERATIONAL_KEYS = ['checkpointEverySteps', 'checkpointEverySeconds', 'keepLast', 'progressEverySeconds', 'graceSeconds', 'resources'] as const;

/** Where a train attempt keeps its local files: staged data, run.json, the trainer's checkpoint_dir. */
function localRunDir(d: TrainNodeDeps, runId: string, step: string): string {
  // One per node: two nodes of a group may share a host (and a LAKEFORGE_HOME).
  return join(d.home, 'runs', localKey(runId, step) + (d.node ? `-node${d.node.rank}` : ''));
}

export interface TrainState { model: string; task: Task; labels: string[]; codeVersion: string; runDir: string; beats?: { stop(): void }; keepRunDir?: boolean }

export const trainStep: StepImpl<'train', TrainNodeDeps, TrainState> = {
  kind: 'train',
  async plan({ input, params, deps: d, upstream }) {
    if (!input.model) throw invalidPipeline('train: the input names no model');
    const model = modelName(input.model);
    const features = upstream.features;
    const task = params.task ?? featuresTask(features.manifest);
    if (!task) throw badInput(`features ${input.inputs.features.uri}: cannot tell the task (no task in its manifest); set params.task`);
    const labels = params.labels ?? featuresLabels(features.manifest);
    if (!labels) throw badInput(`features ${input.inputs.features.uri}: its manifest carries no label map; set params.labels`);
    const codeVersion = await trainerCodeVersion(d.trainerDir);
    // Operational knobs (checkpoint cadence, grace) do not change the model: they stay out of the version.
    // The tokenizer as the trainer gets it: a default chosen here changes the model, so it changes the version.
    const versioned = { ...Object.fromEntries(Object.entries(params).filter(([k]) => !(OPERATIONAL_KEYS as readonly string[]).includes(k))), tokenizer: tokenizerOf(params) };
    const version = stepVersion({ step: 'train', codeVersion, inputs: [features.manifest.version], params: { model, task, labels, params: versioned }, sql: {} });
    return { version, outputs: [lakeJoin('models', model, version)], state: { model, task, labels, codeVersion, runDir: localRunDir(d, input.runId, input.step) } };
  },
  compute: computeTrain,
  async finish({ state }, { published, error }) {
    state.beats?.stop();
    // Local scratch goes once the model is published, or when no retry can use it; else a retry on this worker resumes from it.
    const nonRetryable = (error as { nonRetryable?: boolean } | undefined)?.nonRetryable;
    if (published || nonRetryable || error instanceof SilentNode) await rm(state.runDir, { recursive: true, force: true }).catch(() => {});
  },
};

export function train(d: ResolvedDeps, input: StepInput<'train'>): Promise<StepResult> {
  return runStep(trainStep, d, input);
}

async function computeTrain({ input, params, deps: d, lake, control, upstream, version, workDirs: [workDir], state }: Parameters<StepImpl<'train', TrainNodeDeps, TrainState>['compute']>[0]) {
  const { model, task, labels, codeVersion, runDir } = state;
  const ckPrefix = checkpointsPrefix(input.runId, input.step);
  const info = currentContext()?.info;
  // A node of a multi-node group: the group's attempt (its activities are not retried one by one).
  const node = d.node;
  const attempt = node?.attempt ?? info?.attempt ?? 1;
  const hb: TrainHeartbeat = { ...emptyHeartbeat(attempt), ...(info?.heartbeatDetails as Partial<TrainHeartbeat> | undefined), phase: 'staging', attempt, pid: null, pipeline_step: input.step };
  const beats = startHeartbeats(() => hb, d.heartbeatEveryMs);
  state.beats = beats;
  const localCk = join(runDir, 'checkpoints');
  // More GPUs than this worker has is never retried; checked here, not in plan, so the ETL queue's cache probe needs none.
  const nSlots = requiredSlots(params.resources, d.slots.slots.length, `train ${model}`);
  if (nodesOf(params.resources) > 1 && !node) {
    throw invalidPipeline(`train ${model}: with.resources asks for ${nodesOf(params.resources)} nodes; run it through the pipeline (distributedTrainWorkflow), not as one train activity`);
  }
  const features = upstream.features;
  {
    // Stage the splits the trainer reads (links into the lake, or the staging cache for GCS).
    const dataDir = join(runDir, 'data');
    await mkdir(runDir, { recursive: true });
    const splits = {
      train: await stageSplit(lake, control, features.rel, 'train', dataDir),
      val: await stageSplit(lake, control, features.rel, 'val', dataDir),
    };
    if (!splits.train) throw badInput(`features ${input.inputs.features.uri} has no split=train part files`);

    // Resume: attempt 1 starts afresh (stale checkpoints of this run/step are dropped); a retry resumes from the
    // newest complete checkpoint it can find: the heartbeat's, the lake's, or one still on this worker's disk.
    let resumeFrom: string | null = null;
    const history: HistoryPoint[] = [];
    if (attempt <= 1) {
      // Node 0 alone clears the lake's checkpoints: another node's rank 0 may already be uploading.
      if (!node || node.rank === 0) await lake.removePrefix(ckPrefix);
      await rm(localCk, { recursive: true, force: true });
    } else {
      hb.phase = 'restoring';
      beats.beat();
      // Every node must resume from the same checkpoint: the lake's, never one only this disk holds.
      const r = await resolveResume(lake, ckPrefix, localCk, hb, !!node);
      resumeFrom = r?.path ?? null;
      // Where the resume came from, for the record (a checkpoint on this disk, or one restored from the lake).
      if (r) history.push({ attempt, event: 'resume', step: r.step, ts: Date.now() / 1000, source: r.source });
    }

    const run: RunConfigInput = {
      task,
      model: params.model,
      tokenizer: tokenizerOf(params),
      data: { train: splits.train, val: splits.val, test: null, max_length: params.maxLength, truncation: params.truncation, head_tokens: params.headTokens },
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
    // A gang node's slots were reserved when its group was admitted (workflows/gang-broker.ts).
    const hold = d.held ?? await d.slots.acquireMany(nSlots, currentContext()?.cancellationSignal);
    const slot = { ...combineSlots(hold.slots), release: hold.release };
    let outcome;
    try {
      hb.slot = slot.id;
      let torchrun: TorchrunOptions | undefined = nSlots > 1 ? { nprocPerNode: nSlots } : undefined;
      if (node) torchrun = { nprocPerNode: nSlots, ...(await nodeRendezvous(lake, input, node, beats.beat)) };
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
        env: torchrun ? { ...d.trainerEnv, ...torchrunEnv((params.graceSeconds ?? d.graceMs / 1000) * 1000) } : d.trainerEnv,
        graceMs: (params.graceSeconds ?? d.graceMs / 1000) * 1000, onEvent,
        onStart: (pid) => { hb.pid = pid; beats.beat(); },
        shutdownSignal: d.shutdownSignal,
        drain: () => { hb.phase = 'syncing'; return uploader.drain(); },
        torchrun,
      });
    } finally {
      slot.release();
      hb.pid = null;
    }

    const { exit, cancelled } = outcome;
    // A run the user cancelled ends cancelled, whatever the trainer's exit said; a shutdown's cancel is a preemption.
    if (cancelled && !currentContext()?.cancellationDetails?.workerShutdown) throw cancelled;
    // Global rank 0 ran on another node of the group: that node's activity uploads and publishes.
    if (node && exit.exitCode === 0 && !exit.done) throw new SilentNode(node.rank);
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
    return [buildManifest({
      version, step: input.step, inputs: [features.manifest.version], params: { ...params, modelName: model, task, labels },
      files, schema: [],
      extra: { kind: 'model', model, task, labels, metrics, trainerCodeVersion: codeVersion, runId: input.runId, resumedFrom, features: input.inputs.features.uri },
    })];
  }
}

/** Picks the newest complete checkpoint among the heartbeat's, the lake's and this disk's; restores it if needed. */
async function resolveResume(lake: LakeStorage, prefix: string, localCk: string, hb: TrainHeartbeat, lakeOnly = false): Promise<{ path: string; step: number; source: 'local' | 'lake' } | null> {
  const inLake = await listLakeCheckpoints(lake, prefix);
  const local = lakeOnly ? [] : await listLocalCheckpoints(localCk);
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

