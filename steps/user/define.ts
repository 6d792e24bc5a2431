// What a project writes to add step kinds of its own (docs/projects.md): defineStep for TypeScript steps run in the
// worker process, pythonStep for scripts run in the project's venv, and defineProject for lakeforge.config.ts.
// The kernel does the rest: version, cache, staging, manifest-last publishing, heartbeats, retries, failure types.
import { fileURLToPath } from 'node:url';
import type { DuckDBConnection } from '@duckdb/node-api';
import { z } from 'zod';
import type { Manifest } from '../../activities/lake/index.js';
import { UserKindSchema, type UserKind } from '../../contracts/user-kind.js';
import { REGISTRY } from '../registry.js';

type Duration = `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

/** One upstream output as a TS step sees it. */
export interface StepInputView {
  uri: string;
  version: string;
  manifest: Manifest;
  /** Local copies of its Parquet files (the files themselves on a local lake, the staging cache on GCS). */
  files: string[];
  /** The DuckDB view over those files on `ctx.duckdb`, named after the role (e.g. `input`). */
  relation: string;
}

export interface StepRunContext<P> {
  /** The step's `with:`, validated by its schema (defaults applied). */
  params: P;
  inputs: Record<string, StepInputView>;
  /** Where the step writes its outputs (Parquet files; nothing is published unless it is here). */
  workDir: string;
  /** A private DuckDB connection with one view per input role. */
  duckdb: DuckDBConnection;
  step: string;
  dataset: string;
  log: { info(msg: string, meta?: Record<string, unknown>): void; warn(msg: string, meta?: Record<string, unknown>): void };
  /** Reports progress: heartbeat details, shown by `lakeforge status` and the Web UI's pending activity. */
  progress(details: Record<string, unknown>): void;
  /** Aborted when the run is cancelled or the worker shuts down. */
  signal: AbortSignal | undefined;
}

export interface StepRunResult {
  /** Numbers for the step result and manifest (rows_in/rows_out are added by the kernel). */
  metrics?: Record<string, number>;
}

interface KindOptions {
  name: string;
  description?: string;
  /** Upstream roles and the kinds each accepts; default one `input` of any ETL kind or project step. */
  inputs?: Record<string, { kinds: string[] }>;
  queue?: 'etl' | 'gpu';
  timeout?: Duration;
  heartbeatTimeout?: Duration;
  retry?: { maximumAttempts: number };
  /** The code version in the step's version; default a hash of its source file. Bump it to force recomputation. */
  version?: string;
}

export interface TsStep<S extends z.ZodType = z.ZodType> extends KindOptions {
  runtime: 'ts';
  params: S;
  /** Rows out must equal rows in (summed over the inputs): a step that only reshapes or annotates rows. */
  conserveRows?: boolean;
  /** The module that defined it (its source hash is the default code version). */
  source: string;
  run(ctx: StepRunContext<z.infer<S>>): Promise<StepRunResult | void>;
}

export interface PythonStep<S extends z.ZodType = z.ZodType> extends KindOptions {
  runtime: 'python';
  params: S;
  /** The script, relative to the project root (run as `<venv python> <script> --config <run.json>`). */
  script: string;
}

export type UserStep = TsStep | PythonStep;

/** The file that called defineStep: the first stack frame outside this module. */
function callerFile(): string {
  const here = fileURLToPath(import.meta.url);
  for (const line of (new Error().stack ?? '').split('\n').slice(1)) {
    const m = /\((.*?):\d+:\d+\)$/.exec(line) ?? /at (.*?):\d+:\d+$/.exec(line);
    if (!m) continue;
    const file = m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1];
    if (file !== here && !file.startsWith('node:')) return file;
  }
  return here;
}

function checkName(name: string): void {
  const r = UserKindSchema.shape.kind.safeParse(name);
  if (!r.success) throw new Error(`step name ${JSON.stringify(name)}: ${r.error.issues[0].message}`);
  if (Object.hasOwn(REGISTRY, name) || name === 'python') throw new Error(`step name ${JSON.stringify(name)} is a built-in kind: choose another`);
}

/** A TypeScript step kind: `uses: <name>` in a pipeline. */
export function defineStep<S extends z.ZodType>(def: Omit<TsStep<S>, 'runtime' | 'source'> & { source?: string }): TsStep<S> {
  checkName(def.name);
  return { ...def, runtime: 'ts', source: def.source ?? callerFile() };
}

/** A Python step kind: `uses: <name>`; its script runs like the trainer (argument array, own process group, events). */
export function pythonStep<S extends z.ZodType>(def: Omit<PythonStep<S>, 'runtime'>): PythonStep<S> {
  checkName(def.name);
  return { ...def, runtime: 'python' };
}

export interface ProjectConfig {
  /** The lake root: a file://, gs:// or s3:// URI, or a directory relative to the project. Default `.lakeforge/lake`. */
  lake?: string;
  queues?: { etl?: string; gpu?: string };
  steps?: UserStep[];
  python?: { venv?: string };
}

/** A project found on disk: its directory (SQL and Python step files resolve against it) and its config. */
export interface LoadedProject {
  root: string;
  config: ProjectConfig;
}

export function defineProject(config: ProjectConfig): ProjectConfig {
  const seen = new Set<string>();
  for (const s of config.steps ?? []) {
    if (seen.has(s.name)) throw new Error(`steps: ${JSON.stringify(s.name)} is defined twice`);
    seen.add(s.name);
  }
  return config;
}

/** The declaration of a project step that travels in the workflow input. */
export function userKindOf(step: UserStep): UserKind {
  return UserKindSchema.parse({
    kind: step.name,
    description: step.description ?? '',
    runtime: step.runtime,
    queue: step.queue ?? 'etl',
    timeout: step.timeout ?? '2h',
    heartbeatTimeout: step.heartbeatTimeout ?? '2m',
    retry: step.retry ?? { maximumAttempts: 5 },
    ...(step.inputs ? { inputs: step.inputs } : {}),
    paramsJsonSchema: z.toJSONSchema(step.params, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>,
  });
}

/** The project's step kinds a spec uses: their declarations for the run's input, their schemas for validation. */
export function projectKinds(spec: { steps: { uses: string }[] }, project: { config: ProjectConfig } | undefined) {
  const used = new Set(spec.steps.map((s) => s.uses));
  const steps = (project?.config.steps ?? []).filter((s) => used.has(s.name));
  return { kinds: steps.map(userKindOf), paramSchemas: Object.fromEntries(steps.map((s) => [s.name, s.params])) as Record<string, z.ZodType> };
}
