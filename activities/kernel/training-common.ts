import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig, REPO_ROOT } from '../common/config.js';
import { badInput, invalidPipeline } from '../../contracts/failures.js';
import type { StepResult } from '../../contracts/step-result.js';
import type { LakeStorage, Manifest, OpenLakeOptions } from '../lake/index.js';
import { lakeJoin, openLake, readManifest } from '../lake/index.js';
import type { Task, TrainerEvent } from '../../contracts/trainer-protocol.js';
import { SlotAllocator, resolveSlots } from '../trainer/slots.js';
import type { z } from 'zod';

/** What the GPU activities need from their worker. Everything has a default for the embedded setup. */
export interface GpuActivityDeps {
  /** LAKEFORGE_HOME: the venv, and `runs/` (local checkpoints, staged data) under it. */
  home?: string;
  /** The trainer's python; default `<home>/venv/bin/python`. */
  python?: string;
  /** The directory holding the `lakeforge_trainer` package (put on PYTHONPATH). */
  trainerDir?: string;
  /** The worker's slots; default from LAKEFORGE_GPUS / nvidia-smi / one CPU slot. */
  slots?: SlotAllocator;
  lakeOptions?: OpenLakeOptions;
  /** Extra environment for the trainer (e.g. OMP_NUM_THREADS, LAKEFORGE_TRAINER_VALIDATE_EVENTS). */
  trainerEnv?: Record<string, string>;
  /** Default SIGTERM→SIGKILL grace, when a step's params do not set one. */
  graceMs?: number;
  /** Aborted when the worker begins shutting down: running trainers checkpoint at once (→ Preempted, retried). */
  shutdownSignal?: AbortSignal;
  /** How often the activity heartbeats (the SDK throttles what reaches the server). */
  heartbeatEveryMs?: number;
  /** Observes every trainer event (metrics export, tests). Must not throw. */
  onTrainerEvent?: (e: TrainerEvent, at: TrainerEventContext) => void;
}

export interface TrainerEventContext {
  mode: 'train' | 'evaluate';
  model: string;
  attempt: number;
  pid: number;
  /** train only */
  runId?: string;
  step?: string;
}

export interface ResolvedDeps {
  home: string;
  python: string;
  trainerDir: string;
  slots: SlotAllocator;
  lakeOptions: OpenLakeOptions;
  trainerEnv: Record<string, string>;
  graceMs: number;
  shutdownSignal?: AbortSignal;
  heartbeatEveryMs: number;
  onTrainerEvent?: (e: TrainerEvent, at: TrainerEventContext) => void;
}

export function resolveDeps(deps: GpuActivityDeps = {}): ResolvedDeps {
  const cfg = loadConfig();
  const home = deps.home ?? cfg.home;
  return {
    home,
    python: deps.python ?? join(home, 'venv', 'bin', 'python'),
    trainerDir: deps.trainerDir ?? join(REPO_ROOT, 'trainer'),
    slots: deps.slots ?? new SlotAllocator(resolveSlots(cfg.gpus)),
    lakeOptions: { home, ...deps.lakeOptions },
    trainerEnv: deps.trainerEnv ?? {},
    graceMs: deps.graceMs ?? 60_000,
    shutdownSignal: deps.shutdownSignal,
    heartbeatEveryMs: deps.heartbeatEveryMs ?? 2_000,
    onTrainerEvent: deps.onTrainerEvent,
  };
}

export function openLakeFor(uri: string, d: Pick<ResolvedDeps, 'lakeOptions'>): LakeStorage {
  return openLake(uri, d.lakeOptions);
}

/** zod parse whose failure is the non-retryable InvalidPipeline (bad step parameters, DESIGN.md §3). */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(input);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw invalidPipeline(`${what}: invalid input: ${issues}`);
  }
  return r.data;
}

/** A stable hash of JSON-able values (object keys sorted), 16 hex digits. */
export function stableHash(...values: unknown[]): string {
  const h = createHash('sha256');
  for (const v of values) h.update(stableStringify(v)).update('\0');
  return h.digest('hex').slice(0, 16);
}

function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`).join(',')}}`;
}

const codeVersions = new Map<string, Promise<string>>();
/**
 * The trainer's code version: a hash of its package sources (and schema). A changed trainer gives new model
 * versions, so a cache hit never returns a model the current code would not have produced.
 */
export function trainerCodeVersion(trainerDir: string): Promise<string> {
  let p = codeVersions.get(trainerDir);
  if (!p) {
    p = (async () => {
      const h = createHash('sha256');
      const pkg = join(trainerDir, 'lakeforge_trainer');
      const walk = async (dir: string, rel: string) => {
        const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
        for (const e of entries) {
          if (e.name === '__pycache__' || e.name.startsWith('.')) continue;
          if (e.isDirectory()) await walk(join(dir, e.name), `${rel}${e.name}/`);
          else if (/\.(py|json)$/.test(e.name)) h.update(`${rel}${e.name}\0`).update(await readFile(join(dir, e.name))).update('\0');
        }
      };
      await walk(pkg, '');
      return h.digest('hex').slice(0, 12);
    })();
    p.catch(() => codeVersions.delete(trainerDir));
    codeVersions.set(trainerDir, p);
  }
  return p;
}

/** A published input directory, by its StepResult: lake-relative path and manifest (BadInput when unpublished). */
export async function readInput(lake: LakeStorage, ref: StepResult, what: string): Promise<{ rel: string; manifest: Manifest }> {
  const rel = lake.relative(ref.uri.replace(/\/$/, ''));
  const manifest = await readManifest(lake, rel);
  if (!manifest) throw badInput(`${what} ${ref.uri} is not published (no readable _manifest.json)`);
  if (manifest.version !== ref.version) {
    throw badInput(`${what} ${ref.uri} holds version ${manifest.version}, but the step result names ${ref.version}`);
  }
  return { rel, manifest };
}

/** `text-classification` is the features step's synonym of the trainer's `sequence-classification`. */
export function normalizeTask(t: unknown): Task | undefined {
  if (t === 'sequence-classification' || t === 'text-classification') return 'sequence-classification';
  if (t === 'token-classification') return 'token-classification';
  return undefined;
}

/** The task a features publication was made for: its manifest's `task`, `params.task`, or its columns. */
export function featuresTask(m: Manifest): Task | undefined {
  const rec = m as Record<string, unknown>;
  const params = (m.params ?? {}) as Record<string, unknown>;
  const t = normalizeTask(rec.task) ?? normalizeTask(params.task);
  if (t) return t;
  const cols = new Set(m.schema.map((c) => c.name));
  if (cols.has('tokens') && cols.has('tags')) return 'token-classification';
  if (cols.has('text') && cols.has('label')) return 'sequence-classification';
  return undefined;
}

/**
 * Label names in id order from a features manifest: `labels` / `labelMap` / `label_map` as a list of names, a
 * `{name: id}` map, or an `{id: name}` map.
 */
export function featuresLabels(m: Manifest): string[] | undefined {
  const rec = m as Record<string, unknown>;
  for (const key of ['labels', 'labelMap', 'label_map', 'labelSet', 'tags']) {
    const v = rec[key];
    const names = labelsFrom(v);
    if (names) return names;
  }
  return undefined;
}

function labelsFrom(v: unknown): string[] | undefined {
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return v as string[];
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (o.labels !== undefined) return labelsFrom(o.labels);
    if (o.label2id !== undefined) return labelsFrom(o.label2id);
    const entries = Object.entries(o);
    if (entries.length === 0) return undefined;
    if (entries.every(([, id]) => typeof id === 'number')) {
      return entries.sort((a, b) => (a[1] as number) - (b[1] as number)).map(([name]) => name);
    }
    if (entries.every(([k, name]) => /^\d+$/.test(k) && typeof name === 'string')) {
      return entries.sort((a, b) => Number(a[0]) - Number(b[0])).map(([, name]) => name as string);
    }
  }
  return undefined;
}

/**
 * Makes a split's part files available locally: `<dest>/split=<s>/part-*.parquet` as links to the lake's files (a
 * local lake) or to their copies in the staging cache (GCS). Returns the directory, or null when the split is absent.
 */
export async function stageSplit(lake: LakeStorage, featuresRel: string, split: 'train' | 'val' | 'test', dest: string): Promise<string | null> {
  const prefix = lakeJoin(featuresRel, `split=${split}`);
  const objs = (await lake.list(prefix)).filter((o) => /\/part-[^/]*\.parquet$/.test(o.path));
  if (objs.length === 0) return null;
  const dir = join(dest, `split=${split}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const o of objs) {
    const local = await lake.stage(o);
    // The basename: stable across attempts, which matters because the trainer fingerprints its inputs by name and size.
    await symlink(local, join(dir, o.path.split('/').pop()!));
  }
  return dir;
}

/** Stages every file of a published directory (except `skip` subtrees) to `dest` as links; returns `dest`. */
export async function stageDir(lake: LakeStorage, rel: string, dest: string, skip: string[] = []): Promise<string> {
  await rm(dest, { recursive: true, force: true });
  for (const o of await lake.list(rel)) {
    const sub = o.path.slice(rel.length + 1);
    if (skip.some((s) => sub === s || sub.startsWith(`${s}/`))) continue;
    const target = join(dest, ...sub.split('/'));
    await mkdir(join(target, '..'), { recursive: true });
    await symlink(await lake.stage(o), target);
  }
  return dest;
}

/** A model name is one lake path segment. */
export function modelName(name: string): string {
  const p = lakeJoin(name);
  if (p.includes('/') || p.startsWith('.')) throw invalidPipeline(`model ${JSON.stringify(name)} must be a single path segment not starting with "."`);
  return p;
}
