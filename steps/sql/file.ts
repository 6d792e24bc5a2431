// Custom SQL files of `uses: sql` steps: read from the sql/ directory of the user's project (the repository when
// lakeforge runs from its own checkout), never from anywhere else.
// Node I/O: used by the activity and by the CLI/SDK before a run starts, never by workflow code.
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { join, relative, isAbsolute, sep } from 'node:path';
import { userRoot } from '../../activities/common/config.js';
import { invalidPipeline } from '../../contracts/failures.js';
import { SqlFilePathSchema } from './params.js';

export type SqlFileLookup = { ok: true; path: string; text: string } | { ok: false; message: string };

/**
 * Looks up `file` (e.g. `sql/custom/drop_short_reviews.sql`) under `root` (the project): it must pass the pure
 * path rules, exist as a regular file, and resolve (symlinks included) inside `<root>/sql`.
 */
export function lookupSqlFile(file: string, root = userRoot()): SqlFileLookup {
  const shape = SqlFilePathSchema.safeParse(file);
  if (!shape.success) return { ok: false, message: shape.error.issues[0].message };
  const sqlDir = join(root, 'sql');
  const path = join(root, ...file.split('/'));
  let real: string;
  try {
    real = realpathSync(path);
    if (!statSync(real).isFile()) return { ok: false, message: `${JSON.stringify(file)} is not a file` };
  } catch {
    return { ok: false, message: `SQL file ${JSON.stringify(file)} does not exist (looked in ${sqlDir})` };
  }
  const inside = relative(realpathSync(sqlDir), real);
  if (inside === '' || inside.startsWith(`..${sep}`) || inside === '..' || isAbsolute(inside)) {
    return { ok: false, message: `${JSON.stringify(file)} resolves outside ${sqlDir}` };
  }
  return { ok: true, path: real, text: readFileSync(real, 'utf8') };
}

/** The file's text, or InvalidPipeline naming the field (`with.file`). */
export function readSqlFile(file: string, root = userRoot()): { path: string; text: string } {
  const r = lookupSqlFile(file, root);
  if (!r.ok) throw invalidPipeline(`with.file: ${r.message}`, { field: 'with.file', file });
  return r;
}
