import { copyFileSync, linkSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { CHECKPOINT_MARKER, type LakeStorage } from '../../activities/lake/types.js';
import { lakeJoin } from '../../activities/lake/paths.js';

/**
 * Trainer checkpoints in the lake: `checkpoints/<runId>/<step>/step-N/` (docs/design.md#layout).
 *
 * A checkpoint directory in the lake is complete when its marker `_checkpoint.json` is there: it is uploaded last,
 * listing every file and size, so a worker that died half-way through an upload leaves no usable-looking checkpoint
 * (object stores have no directory rename to publish with).
 */
export { CHECKPOINT_MARKER };
/** The trainer writes this last inside each `step-N` (its own completeness marker). */
export const TRAINER_STATE_FILE = 'trainer_state.json';

export interface LakeCheckpoint {
  step: number;
  /** Lake-relative directory, e.g. `checkpoints/run-1/train/step-40`. */
  rel: string;
}

export function checkpointsPrefix(runId: string, step: string): string {
  return lakeJoin('checkpoints', runId, step);
}

async function localFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string) {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push(relative(dir, p).split(sep).join('/'));
    }
  }
  await walk(dir);
  return out.sort();
}

/** Uploads a complete local `step-N` directory; the marker goes last. */
export async function uploadCheckpoint(lake: LakeStorage, localDir: string, prefix: string, step: number): Promise<LakeCheckpoint> {
  const rel = lakeJoin(prefix, `step-${step}`);
  const files = await localFiles(localDir);
  if (!files.includes(TRAINER_STATE_FILE)) throw new Error(`${localDir} is not a complete checkpoint (no ${TRAINER_STATE_FILE})`);
  // A re-upload of the same step (a retried sync) must not look complete while it is being rewritten.
  await lake.removePrefix(lakeJoin(rel, CHECKPOINT_MARKER)).catch(() => {});
  const listed: { path: string; bytes: number }[] = [];
  for (const f of files) {
    const abs = join(localDir, ...f.split('/'));
    const st = await stat(abs);
    await lake.putFile(abs, lakeJoin(rel, f));
    listed.push({ path: f, bytes: st.size });
  }
  await lake.writeText(lakeJoin(rel, CHECKPOINT_MARKER), JSON.stringify({ step, files: listed, uploadedAt: new Date().toISOString() }, null, 1));
  return { step, rel };
}

/** Complete checkpoints in the lake under `prefix`, oldest first: marker present and every listed file at its size. */
export async function listLakeCheckpoints(lake: LakeStorage, prefix: string): Promise<LakeCheckpoint[]> {
  const objs = await lake.list(prefix);
  const sizes = new Map(objs.map((o) => [o.path, o.size]));
  const out: LakeCheckpoint[] = [];
  for (const o of objs) {
    const m = new RegExp(`^${escapeRe(prefix)}/step-(\\d+)/${escapeRe(CHECKPOINT_MARKER)}$`).exec(o.path);
    if (!m) continue;
    const rel = lakeJoin(prefix, `step-${m[1]}`);
    const marker = await readMarker(lake, rel);
    if (!marker) continue;
    if (marker.files.every((f) => sizes.get(lakeJoin(rel, f.path)) === f.bytes)) out.push({ step: Number(m[1]), rel });
  }
  return out.sort((a, b) => a.step - b.step);
}

async function readMarker(lake: LakeStorage, rel: string): Promise<{ step: number; files: { path: string; bytes: number }[] } | null> {
  const text = await lake.readText(lakeJoin(rel, CHECKPOINT_MARKER));
  if (text === null) return null;
  try {
    const j = JSON.parse(text);
    return Array.isArray(j.files) ? j : null;
  } catch {
    return null;
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Local checkpoint `step-N` directories the trainer completed (its state file present), oldest first. */
export async function listLocalCheckpoints(dir: string): Promise<{ step: number; path: string }[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: { step: number; path: string }[] = [];
  for (const e of entries) {
    const m = /^step-(\d+)$/.exec(e.name);
    if (!m || !e.isDirectory()) continue;
    const p = join(dir, e.name);
    if (await exists(join(p, TRAINER_STATE_FILE))) out.push({ step: Number(m[1]), path: p });
  }
  return out.sort((a, b) => a.step - b.step);
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Restores a lake checkpoint to `<localCkDir>/step-N` (through the lake's staging on GCS), written as the trainer
 * writes its own: into `step-N.tmp`, then renamed, so a crash mid-restore leaves nothing the trainer would trust.
 */
export async function restoreCheckpoint(lake: LakeStorage, ck: LakeCheckpoint, localCkDir: string): Promise<string> {
  const marker = await readMarker(lake, ck.rel);
  if (!marker) throw new Error(`checkpoint ${lake.uri(ck.rel)} has no readable ${CHECKPOINT_MARKER}`);
  const final = join(localCkDir, `step-${ck.step}`);
  const tmp = `${final}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  const objs = new Map((await lake.list(ck.rel)).map((o) => [o.path, o]));
  for (const f of marker.files) {
    const obj = objs.get(lakeJoin(ck.rel, f.path));
    if (!obj) throw new Error(`checkpoint ${lake.uri(ck.rel)} lost ${f.path}`);
    const src = await lake.stage(obj);
    const dest = join(tmp, ...f.path.split('/'));
    await mkdir(join(dest, '..'), { recursive: true });
    await copyFile(src, dest);
  }
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  return final;
}

/** Keeps the newest `keepLast` lake checkpoints under `prefix` (plus `alsoKeep`), removing older ones. */
export async function pruneLakeCheckpoints(lake: LakeStorage, prefix: string, keepLast: number, alsoKeep: number[] = []): Promise<void> {
  const cks = await listLakeCheckpoints(lake, prefix);
  const keep = new Set([...cks.slice(-keepLast).map((c) => c.step), ...alsoKeep]);
  for (const c of cks) if (!keep.has(c.step)) await lake.removePrefix(c.rel);
}

/**
 * A hard-linked copy of a checkpoint directory, taken the moment the trainer announces it: the trainer prunes old
 * checkpoints on its own schedule, and an upload slower than the checkpoint interval must not lose its files.
 * Falls back to copying across filesystems.
 */
export function snapshotCheckpointSync(src: string, dest: string): void {
  rmSync(dest, { recursive: true, force: true });
  const walk = (from: string, to: string) => {
    mkdirSync(to, { recursive: true });
    for (const e of readdirSync(from, { withFileTypes: true })) {
      const a = join(from, e.name);
      const b = join(to, e.name);
      if (e.isDirectory()) walk(a, b);
      else if (e.isFile()) {
        try {
          linkSync(a, b);
        } catch {
          copyFileSync(a, b);
        }
      }
    }
  };
  walk(src, dest);
}

interface Snapshot { step: number; dir: string; keep: boolean }

/**
 * Uploads checkpoints to the lake one at a time, in order, from snapshots. When uploads fall behind, a waiting
 * interval checkpoint superseded by a newer one is skipped (only the newest matters for a resume); `best`,
 * `final` and `preempt` checkpoints are always uploaded, since the trainer may need them back.
 */
export class CheckpointUploader {
  private queue: Snapshot[] = [];
  private running: Promise<void> | null = null;

  constructor(
    private readonly lake: LakeStorage,
    private readonly prefix: string,
    private readonly snapDir: string,
    private readonly onSynced: (ck: LakeCheckpoint) => Promise<void>,
    private readonly onError: (step: number, err: unknown) => void,
  ) {}

  /** Call synchronously from the `checkpoint` event handler. */
  offer(step: number, path: string, reason: string | undefined): void {
    const dir = join(this.snapDir, `step-${step}`);
    try {
      snapshotCheckpointSync(path, dir);
    } catch (err) {
      this.onError(step, err);
      return;
    }
    for (const s of this.queue.filter((q) => !q.keep)) rmSync(s.dir, { recursive: true, force: true });
    this.queue = this.queue.filter((q) => q.keep);
    this.queue.push({ step, dir, keep: reason !== undefined && reason !== 'interval' });
    if (!this.running) this.running = this.loop().finally(() => (this.running = null));
  }

  private async loop(): Promise<void> {
    for (let s = this.queue.shift(); s; s = this.queue.shift()) {
      try {
        await this.onSynced(await uploadCheckpoint(this.lake, s.dir, this.prefix, s.step));
      } catch (err) {
        this.onError(s.step, err);
      } finally {
        await rm(s.dir, { recursive: true, force: true });
      }
    }
  }

  /** Resolves when every offered checkpoint has been uploaded (or has failed). */
  async drain(): Promise<void> {
    while (this.running) await this.running;
  }
}
