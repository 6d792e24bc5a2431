// Checkpoints of a gpu-queue Python step, through the train step's machinery (checkpoints/<runId>/<step>/step-N/ in
// the lake, marker last): attempt 1 starts afresh; a retry resumes from the newest complete checkpoint, on this
// disk or restored from the lake.
import { rm } from 'node:fs/promises';
import type { LakeStorage } from '../../activities/lake/index.js';
import { listLakeCheckpoints, listLocalCheckpoints, restoreCheckpoint } from '../train/checkpoints.js';

export interface Resume {
  path: string;
  step: number;
  source: 'local' | 'lake';
}

export async function prepareCheckpoints(lake: LakeStorage, prefix: string, localDir: string, attempt: number): Promise<Resume | null> {
  if (attempt <= 1) {
    // Stale checkpoints of an earlier run under the same run id and step are not this run's.
    await lake.removePrefix(prefix);
    await rm(localDir, { recursive: true, force: true });
    return null;
  }
  const inLake = await listLakeCheckpoints(lake, prefix);
  const local = await listLocalCheckpoints(localDir);
  const newestLake = inLake[inLake.length - 1];
  const newestLocal = local[local.length - 1];
  if (newestLocal && (!newestLake || newestLocal.step >= newestLake.step)) return { ...newestLocal, source: 'local' };
  if (!newestLake) return null;
  return { path: await restoreCheckpoint(lake, newestLake, localDir), step: newestLake.step, source: 'lake' };
}
