// Staging: makes lake objects readable as local files (the files themselves on a local lake, the staging cache on
// GCS), heartbeating once per object so a slow download is never mistaken for a lost worker. The one place it happens.
import { mkdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput } from '../../contracts/failures.js';
import { lakeJoin, type LakeStorage, type ObjectInfo } from '../lake/index.js';
import type { StepControl } from './context.js';

export interface StagedFile {
  /** A local path DuckDB or the trainer can read. */
  local: string;
  uri: string;
  size: number;
  /** Lake-relative path. */
  path: string;
}

/**
 * Stages `objects` in order. With `exact`, each is first re-read from the lake and refused when it changed since it
 * was listed (a partition must read exactly what the step's version was computed from).
 */
export async function stageObjects(lake: LakeStorage, control: StepControl, objects: ObjectInfo[], opts: { exact?: boolean } = {}): Promise<StagedFile[]> {
  const files: StagedFile[] = [];
  control.heartbeat({ stage: 'stage-input', staged: 0, files: objects.length });
  for (const planned of objects) {
    let o = planned;
    if (opts.exact) {
      const now = await lake.stat(planned.path);
      if (!now || now.generation !== planned.generation || now.size !== planned.size) {
        throw badInput(`${lake.uri(planned.path)} ${now ? 'changed' : 'disappeared'} while the step ran: re-run the step`, { file: lake.uri(planned.path) });
      }
      o = now;
    }
    files.push({ local: await lake.stage(o), uri: lake.uri(o.path), size: o.size, path: o.path });
    control.heartbeat({ stage: 'stage-input', staged: files.length, files: objects.length });
  }
  return files;
}

/**
 * Stages every object under `rel` (except `skip` subtrees) into `dest` as symlinks named by their path below `rel`
 * (stable across attempts: the trainer fingerprints its inputs by name and size). Returns the staged files.
 */
export async function stageTree(lake: LakeStorage, control: StepControl, rel: string, dest: string, opts: { skip?: string[]; match?: RegExp } = {}): Promise<StagedFile[]> {
  await rm(dest, { recursive: true, force: true });
  const objs = (await lake.list(rel)).filter((o) => {
    const sub = o.path.slice(rel.length + 1);
    return !(opts.skip ?? []).some((s) => sub === s || sub.startsWith(`${s}/`)) && (!opts.match || opts.match.test(o.path));
  });
  const staged = await stageObjects(lake, control, objs);
  for (const f of staged) {
    const target = join(dest, ...f.path.slice(rel.length + 1).split('/'));
    await mkdir(join(target, '..'), { recursive: true });
    await symlink(f.local, target);
  }
  return staged;
}

/** A features split's part files staged at `<dest>/split=<s>/`; the directory, or null when the split is absent. */
export async function stageSplit(lake: LakeStorage, control: StepControl, featuresRel: string, split: 'train' | 'val' | 'test', dest: string): Promise<string | null> {
  const prefix = lakeJoin(featuresRel, `split=${split}`);
  const dir = join(dest, `split=${split}`);
  const staged = await stageTree(lake, control, prefix, dir, { match: /\/part-[^/]*\.parquet$/ });
  return staged.length ? dir : null;
}
