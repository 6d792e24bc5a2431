// A project step may only write into its work directory. What can be checked cheaply after it ran: nothing in the
// work directory is a link to somewhere else (the publication would carry files the step did not write).
import { lstat, readdir, readlink } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../../contracts/failures.js';

export async function checkWorkDir(workDir: string, step: string): Promise<void> {
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if ((await lstat(p)).isSymbolicLink()) {
        const target = resolve(dir, await readlink(p));
        const rel = relative(workDir, target);
        if (rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
          throw ApplicationFailure.create({
            type: FailureType.BadInput, nonRetryable: true,
            message: `step ${step} left ${relative(workDir, p)} in its work directory as a link to ${target}, outside it: write the file itself`,
          });
        }
      }
    }
  };
  await walk(workDir);
}
