// What the partitioned clean and features steps share: their work area in the lake, staging of a batch's inputs,
// gathering the parts into the step's one publication, and dropping the work area.
//
// A partitioned step's intermediate files live under `_work/<step>/<dataset>/<version>/<workKey>/` (the workKey is the
// fanning workflow's run id), at paths fixed by the partition's number: a retried activity overwrites exactly what
// its failed attempt may have left (each write goes to a temporary name and is renamed, or is one GCS object write),
// and any ETL worker can read what another wrote. `_work/` is no published output (docs/design.md#layout): readers never look there.
import { rm } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { z } from 'zod';
import { invalidPipeline, invariantViolated } from '../../contracts/failures.js';
import { lakeJoin, type LakeStorage } from '../lake/index.js';
import type { StepControl } from './context.js';
import { openStepLake, parseInput, type LakeDeps } from './input.js';

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
 * Places work-area objects into a local work directory to publish: hard links on a local lake (same filesystem, no
 * copy), staged copies on GCS. `parts` maps lake-relative sources to paths inside the work directory.
 */
export async function gatherParts(lake: LakeStorage, control: StepControl, workDir: string, parts: { from: string; to: string }[]): Promise<void> {
  let n = 0;
  for (const { from, to } of parts) {
    const dest = join(workDir, ...to.split('/'));
    await mkdir(dirname(dest), { recursive: true });
    const o = await lake.stat(from);
    if (!o) throw invariantViolated(`partition output ${lake.uri(from)} is missing from the work area`);
    await lake.copyToLocal(o, dest);
    if (++n % 50 === 0) control.heartbeat({ stage: 'gather', parts: n, of: parts.length });
  }
}

export const DiscardPartitionWorkInputSchema = z.object({ lake: z.string().optional(), workRel: z.string().min(1) }).strict();
export type DiscardPartitionWorkInput = z.input<typeof DiscardPartitionWorkInputSchema>;

/** Drops a partitioned step's work area (after a failure or a cancellation; publish drops it on success). */
export async function discardPartitionWork(deps: LakeDeps, raw: unknown): Promise<void> {
  const input = parseInput(DiscardPartitionWorkInputSchema, raw, 'discard partition work');
  const rel = lakeJoin(input.workRel);
  if (!rel.startsWith(`${WORK_ROOT}/`) || rel.split('/').length !== 5) throw invalidPipeline(`${rel} is not a partition work area`);
  await openStepLake(deps, input.lake).removePrefix(rel);
}

/** Removes a local temporary directory, ignoring errors. */
export const removeTmp = (dir: string) => rm(dir, { recursive: true, force: true });
