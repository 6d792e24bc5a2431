import { realpath, stat } from 'node:fs/promises';
import { sep } from 'node:path';
import { badInput } from '../../contracts/failures.js';

/**
 * What a symbolic link found while listing a local lake is. Skipping one would silently drop delivered data, and
 * following one out of the lake would read outside it, so: a link to a file inside the lake is read as that file,
 * and anything else (a link out of the lake, to a directory, or dangling) is refused with BadInput naming it.
 */
export async function checkLink(rootDir: string, absPath: string, uri: string): Promise<'file'> {
  let target: string;
  let root: string;
  try {
    [target, root] = await Promise.all([realpath(absPath), realpath(rootDir)]);
  } catch {
    throw badInput(`${uri} is a symbolic link whose target does not exist`, { file: uri });
  }
  if (target !== root && !target.startsWith(root.endsWith(sep) ? root : root + sep)) {
    throw badInput(`${uri} is a symbolic link to ${target}, outside the lake ${root}: copy the file into the lake instead of linking it`, { file: uri, target });
  }
  if (!(await stat(target)).isFile()) {
    throw badInput(`${uri} is a symbolic link to a directory (${target}); lakeforge does not follow directory links`, { file: uri, target });
  }
  return 'file';
}
