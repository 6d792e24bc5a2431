// What the partitioned clean and features steps share: their work area in the lake, staging of a batch's inputs,
// gathering the parts into the step's one publication, and dropping the work area.
//
// A partitioned step's intermediate files live under `_work/<step>/<dataset>/<version>/<workKey>/` (the workKey is the
// fanning workflow's run id), at paths fixed by the partition's number: a retried activity overwrites exactly what
// its failed attempt may have left (each write goes to a temporary name and is renamed, or is one GCS object write),
// and any ETL worker can read what another wrote. `_work/` is no output of DESIGN.md §2: readers never look there.
import { copyFile, link, rm } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { z } from 'zod';
import { badInput, invalidPipeline } from '../../contracts/failures.js';
import { LocalLake, lakeJoin, type LakeStorage, type ObjectInfo } from '../lake/index.js';
import type { StepControl } from '../duckdb/run.js';
import { openStepLake, parseInput, type EtlDeps } from './etl-common.js';

export const WORK_ROOT = '_work';

/** Zero-padded partition numbers, so lake listings (sorted by path) come in partition order. */
export const pad = (n: number) => String(n).padStart(5, '0');

export const WorkKeySchema = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/);

export function workArea(step: 'clean' | 'features', dataset: string, version: string, workKey: string): string {
  return lakeJoin(WORK_ROOT, step, dataset, version, workKey);
}

/** Input files into `batches` of `filesPerTask`, in input order. */
export function cutBatches<T>(items: T[], filesPerTask: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += filesPerTask) out.push(items.slice(i, i + filesPerTask));
  return out;
}

/**
 * Stages a batch's objects for DuckDB, refusing any that changed since the plan listed them (a batch must read
 * exactly what the step's version was computed from).
 */
export async function stagePlanned(lake: LakeStorage, control: StepControl, planned: ObjectInfo[]): Promise<{ local: string; uri: string; size: number }[]> {
  const out: { local: string; uri: string; size: number }[] = [];
  for (const p of planned) {
    const o = await lake.stat(p.path);
    if (!o || o.generation !== p.generation || o.size !== p.size) {
      throw badInput(`${lake.uri(p.path)} ${o ? 'changed' : 'disappeared'} while the step ran: re-run the step`, { file: lake.uri(p.path) });
    }
    out.push({ local: await lake.stage(o), uri: lake.uri(o.path), size: o.size });
    control.heartbeat({ stage: 'stage-input', staged: out.length, files: planned.length });
  }
  return out;
}

/**
 * Places work-area objects into a local work directory to publish: hard links on a local lake (same filesystem, no
 * copy), staged copies on GCS. `parts` maps lake-relative sources to paths inside the work directory.
 */
export async function gatherParts(lake: LakeStorage, control: StepControl, workDir: string, parts: { from: string; to: string }[]): Promise<void> {
  let n = 0;
  for (const { from, to } of parts) {
    const dest = join(workDir, ...to.split('/'));
    await mkdir(dirname(dest), { recursive: true });
    const o = await lake.stat(from);
    if (!o) throw new Error(`partition output ${lake.uri(from)} is missing from the work area`);
    if (lake instanceof LocalLake) {
      try {
        await link(lake.abs(from), dest);
      } catch {
        await copyFile(lake.abs(from), dest);
      }
    } else {
      await copyFile(await lake.stage(o), dest);
    }
    if (++n % 50 === 0) control.heartbeat({ stage: 'gather', parts: n, of: parts.length });
  }
}

export const DiscardPartitionWorkInputSchema = z.object({ lake: z.string().optional(), workRel: z.string().min(1) }).strict();
export type DiscardPartitionWorkInput = z.input<typeof DiscardPartitionWorkInputSchema>;

/** Drops a partitioned step's work area (after a failure or a cancellation; publish drops it on success). */
export async function discardPartitionWork(deps: EtlDeps, raw: unknown): Promise<void> {
  const input = parseInput(DiscardPartitionWorkInputSchema, raw, 'discard partition work');
  const rel = lakeJoin(input.workRel);
  if (!rel.startsWith(`${WORK_ROOT}/`) || rel.split('/').length !== 5) throw invalidPipeline(`${rel} is not a partition work area`);
  await openStepLake(deps, input.lake).removePrefix(rel);
}

/** Removes a local temporary directory, ignoring errors. */
export const removeTmp = (dir: string) => rm(dir, { recursive: true, force: true });
