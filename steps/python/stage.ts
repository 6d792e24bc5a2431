// A Python step's inputs: each role's published files staged (links into a local lake, the staging cache on GCS)
// under `<dir>/<role>/` by their path in the publication, so `split=train/part-0.parquet` keeps its split.
import { mkdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { PythonStepConfigInput } from '../../contracts/python-step-protocol.js';
import type { StepResult } from '../../contracts/step-result.js';
import type { LakeStorage, Manifest, ObjectInfo } from '../../activities/lake/index.js';
import type { StepControl } from '../../activities/kernel/context.js';
import { stageObjects } from '../../activities/kernel/stage.js';

export async function stageInputs(
  lake: LakeStorage,
  control: StepControl,
  upstream: Record<string, { rel: string; manifest: Manifest; objects: ObjectInfo[] }>,
  dir: string,
  refs: Record<string, StepResult>,
): Promise<PythonStepConfigInput['inputs']> {
  await rm(dir, { recursive: true, force: true });
  const out: PythonStepConfigInput['inputs'] = {};
  for (const [role, u] of Object.entries(upstream)) {
    const roleDir = join(dir, role);
    await mkdir(roleDir, { recursive: true });
    const files: string[] = [];
    for (const f of await stageObjects(lake, control, u.objects)) {
      const dest = join(roleDir, ...f.path.slice(u.rel.length + 1).split('/'));
      await mkdir(join(dest, '..'), { recursive: true });
      await symlink(f.local, dest);
      if (dest.endsWith('.parquet')) files.push(dest);
    }
    out[role] = { dir: roleDir, files, manifest: u.manifest as unknown as Record<string, unknown>, uri: refs[role].uri, version: u.manifest.version };
  }
  return out;
}
