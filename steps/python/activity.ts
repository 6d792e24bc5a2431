// A project's Python step through the kernel: plan = version from the script's hash, params and input versions;
// compute = stage the inputs, write step.json, run `<venv python> <script> --config step.json` supervised exactly
// like the trainer (argument array, own process group, stdin pipe, JSON-lines events, exit codes 0/2/75/other),
// on the gpu queue holding a slot with checkpoints synced to the lake; then refuse writes outside the work dir,
// describe the files, and let the kernel publish.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput, invalidPipeline } from '../../contracts/failures.js';
import type { StepResult } from '../../contracts/step-result.js';
import { PythonStepConfigSchema, PythonStepEventSchema, type PythonStepConfigInput, type PythonStepEvent } from '../../contracts/python-step-protocol.js';
import { loadConfig } from '../../activities/common/config.js';
import { buildManifest, datasetName, describeFiles, lakeJoin, type Manifest } from '../../activities/lake/index.js';
import { currentContext, startHeartbeats } from '../../activities/kernel/context.js';
import { runStep, type StepImpl } from '../../activities/kernel/lifecycle.js';
import { localKey, stepVersion } from '../../activities/kernel/version.js';
import type { StepKind } from '../registry.js';
import { CheckpointUploader, checkpointsPrefix, pruneLakeCheckpoints } from '../train/checkpoints.js';
import { CPU_SLOT, SlotAllocator, resolveSlots, type Slot } from '../../activities/trainer/slots.js';
import { emptyHeartbeat, failureOf, superviseTrainer, type TrainHeartbeat } from '../../activities/trainer/supervise.js';
import { checkConfinement, snapshot } from './confine.js';
import { parquetFacts } from './parquet.js';
import { prepareCheckpoints } from './resume.js';
import { resolvePython, resolveScript, resolveTrainerDir, type ResolvedScript } from './script.js';
import { stageInputs } from './stage.js';
import { pythonStepDefinition, type PythonStep, type PythonStepDeps } from './types.js';

/** Bumped when the runner changes what a Python step sees (the step.json contract); part of every version. */
export const PYTHON_RUNNER_VERSION = 'python-1';

/** The heartbeat of a Python step: the train step's shape (so progress shows step/loss/ETA), plus its own fields. */
export interface PythonHeartbeat extends TrainHeartbeat {
  progress: Record<string, string | number | boolean | null> | null;
}

interface State { script: ResolvedScript; codeVersion: string; runDir: string; beats?: { stop(): void } }
type Ctx = Parameters<StepImpl<StepKind, PythonStepDeps, State>['compute']>[0];

const warn = (msg: string, fields: Record<string, unknown>) => {
  const ctx = currentContext();
  if (ctx) ctx.log.warn(msg, fields);
  else console.warn(msg, fields);
};

const sharedSlots = new Map<string, SlotAllocator>();
function slotsOf(deps: PythonStepDeps): SlotAllocator {
  if (deps.slots) return deps.slots;
  const spec = loadConfig().gpus ?? '';
  if (!sharedSlots.has(spec)) sharedSlots.set(spec, new SlotAllocator(resolveSlots(loadConfig().gpus)));
  return sharedSlots.get(spec)!;
}

/** The kernel implementation of one declared Python step. */
export function pythonStepImpl(step: PythonStep): StepImpl<StepKind, PythonStepDeps, State> {
  return {
    // A project kind is not in the built-in registry: it brings its own definition (its params and input roles).
    kind: step.name as StepKind,
    definition: pythonStepDefinition(step),
    async plan({ input, params, deps, upstream }) {
      const script = await resolveScript(deps.projectRoot, step.script, step.name);
      // The script's bytes always count; a declared version salts it (for code the script imports).
      const codeVersion = `${PYTHON_RUNNER_VERSION}:${script.sha256.slice(0, 16)}${step.version !== undefined ? `:${step.version}` : ''}`;
      const roles = Object.keys(upstream).sort();
      const version = stepVersion({
        step: step.name, codeVersion, inputs: roles.map((r) => (upstream as Record<string, { manifest: Manifest }>)[r].manifest.version),
        params: { roles, params }, sql: {},
      });
      const runDir = join(deps.home ?? loadConfig().home, 'runs', localKey('python', input.runId, input.step));
      return { version, outputs: [lakeJoin(input.step, datasetName(input.dataset), version)], state: { script, codeVersion, runDir } };
    },
    compute: (c) => computePython(step, c),
    async finish({ state }, { published, error }) {
      state.beats?.stop();
      // Kept for a retry on this worker (its local checkpoints) unless published or not retryable.
      if (published || (error as { nonRetryable?: boolean } | undefined)?.nonRetryable) await rm(state.runDir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

export function runPythonStep(step: PythonStep, deps: PythonStepDeps, input: unknown): Promise<StepResult> {
  return runStep(pythonStepImpl(step), deps, input);
}

async function computePython(step: PythonStep, c: Ctx): Promise<Manifest[]> {
  const { input, deps, lake, control, version, workDirs: [workDir], state } = c;
  const params = c.params as Record<string, unknown>;
  const upstream = c.upstream as Record<string, { rel: string; manifest: Manifest; objects: { path: string; size: number; generation: string }[] }>;
  const gpu = (step.queue ?? 'etl') === 'gpu';
  const info = currentContext()?.info;
  const attempt = info?.attempt ?? 1;
  const what = `python step ${step.name} (${step.script})`;
  const hb: PythonHeartbeat = {
    ...emptyHeartbeat(attempt), ...(info?.heartbeatDetails as Partial<PythonHeartbeat> | undefined),
    phase: 'staging', attempt, pid: null, pipeline_step: input.step, progress: null,
  };
  const beats = startHeartbeats(() => hb, deps.heartbeatEveryMs ?? 2_000);
  state.beats = beats;
  const { runDir } = state;
  await mkdir(runDir, { recursive: true });

  const inputsDir = join(runDir, 'inputs');
  const inputs = await stageInputs(lake, control, upstream, inputsDir, input.inputs as Record<string, StepResult>);
  const keepLast = deps.keepLast ?? 2;
  const ckPrefix = checkpointsPrefix(input.runId, input.step);
  const localCk = join(runDir, 'checkpoints');
  let resume = null;
  if (gpu) {
    hb.phase = 'restoring';
    beats.beat();
    resume = await prepareCheckpoints(lake, ckPrefix, localCk, attempt);
    await mkdir(localCk, { recursive: true });
  }

  const uploader = new CheckpointUploader(lake, ckPrefix, join(runDir, 'sync'), async (ck) => {
    hb.checkpoint = ck.rel;
    hb.checkpoint_step = ck.step;
    await pruneLakeCheckpoints(lake, ckPrefix, keepLast);
    beats.beat();
  }, (ckStep, err) => warn('checkpoint sync failed', { step: ckStep, error: String(err) }));

  // What the script could reach and we can cheaply re-read afterwards (see confine.ts).
  const lakePrefixes = [input.step, ...Object.values(upstream).map((u) => u.rel)];
  const localDirs = [inputsDir];
  const before = await snapshot(lake, lakePrefixes, localDirs);

  const hold = gpu ? await slotsOf(deps).acquire(currentContext()?.cancellationSignal) : null;
  const slot: Slot = hold ?? CPU_SLOT;
  let outcome;
  let done: Extract<PythonStepEvent, { event: 'done' }> | undefined;
  try {
    const config: PythonStepConfigInput = {
      step: input.step, kind: step.name, run_id: input.runId, dataset: input.dataset, attempt, script: state.script.abs,
      params, inputs, work_dir: workDir,
      checkpoint_dir: gpu ? localCk : null, resume_from: resume?.path ?? null, keep_last: keepLast,
      device: { queue: gpu ? 'gpu' : 'etl', slot: hold ? slot.id : null, kind: slot.kind, cuda_visible_devices: slot.cudaVisibleDevices },
    };
    const checked = PythonStepConfigSchema.safeParse(config);
    if (!checked.success) throw invalidPipeline(`${what}: its step config is invalid: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const configPath = join(runDir, `step-attempt-${attempt}.json`);
    await writeFile(configPath, JSON.stringify(config, null, 2));
    hb.slot = hold ? slot.id : null;
    hb.phase = 'running';
    const onEvent = (raw: unknown) => {
      const e = raw as PythonStepEvent;
      if (e.event === 'started') {
        hb.resumed_from_step = e.resumed_from_step;
        hb.step = e.resumed_from_step ?? 0;
      } else if (e.event === 'progress') {
        const { event: _e, ts: _t, ...fields } = e;
        hb.progress = fields as PythonHeartbeat['progress'];
        if (typeof e.step === 'number') hb.step = e.step;
        if (typeof e.total_steps === 'number') hb.total_steps = e.total_steps;
        if (typeof fields.loss === 'number') hb.loss = fields.loss;
        if (typeof fields.eta_s === 'number') hb.eta_s = fields.eta_s;
      } else if (e.event === 'checkpoint') {
        if (gpu) uploader.offer(e.step, e.path, e.reason);
        else warn('a python step on the etl queue announced a checkpoint; only gpu-queue steps have them synced', { step: step.name });
      } else if (e.event === 'done') {
        done = e;
      }
      beats.beat();
    };
    const graceMs = deps.graceMs ?? 30_000;
    outcome = await superviseTrainer({
      python: resolvePython(deps), trainerDir: resolveTrainerDir(deps), mode: 'train', configPath, slot, env: deps.env, graceMs,
      onEvent, onStart: (pid) => { hb.pid = pid; beats.beat(); }, shutdownSignal: deps.shutdownSignal,
      drain: () => { hb.phase = 'syncing'; return uploader.drain(); },
      argv: [state.script.abs, '--config', configPath], eventSchema: PythonStepEventSchema, cwd: deps.projectRoot,
    });
  } finally {
    hold?.release();
    hb.pid = null;
  }

  const { exit, cancelled } = outcome;
  if (cancelled && !currentContext()?.cancellationDetails?.workerShutdown) throw cancelled;
  // Exit 0 is done, with or without a done event (a script need not use step.run); the rest as the trainer's.
  const failure = exit.exitCode === 0 ? null : failureOf(exit, what, 'the script');
  if (failure) throw failure;

  hb.phase = 'publishing';
  beats.beat();
  await checkConfinement({ lake, before, lakePrefixes, localDirs, workDir, what, script: step.script });
  const facts = await parquetFacts(deps, control, workDir);
  const files = await describeFiles(workDir, async (abs) => facts.rows.get(abs) ?? 0);
  if (files.length === 0) throw badInput(`${what} exited 0 but wrote no files into its work directory`, { file: step.script });
  const roles = Object.keys(upstream).sort();
  const metrics = { ...(done?.metrics ?? {}), attempts: attempt, resumed_from_step: resume?.step ?? 0 };
  return [buildManifest({
    version, step: input.step, inputs: roles.map((r) => upstream[r].manifest.version), params,
    files, schema: facts.schema,
    extra: {
      kind: 'python', pythonStep: step.name, script: step.script, codeVersion: state.codeVersion, dataset: datasetName(input.dataset),
      metrics, runId: input.runId, resumedFrom: resume ? { step: resume.step, source: resume.source } : null,
      inputsByRole: Object.fromEntries(roles.map((r) => [r, (input.inputs as Record<string, StepResult>)[r].uri])),
    },
  })];
}
