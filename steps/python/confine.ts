// A Python step may write only into its work directory. What can be checked cheaply after it exits: the step's own
// lake tree and its inputs' publications (a new or changed object there is the script's), the staged input
// directories, and symlinks in the work directory that point out of it (publishing would follow them).
import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { badInput } from '../../contracts/failures.js';
import { lakeJoin, MANIFEST_FILE, type LakeStorage } from '../../activities/lake/index.js';
import { isInside } from './script.js';

export interface Snapshot {
  lake: Map<string, string>;
  local: Map<string, Set<string>>;
}

async function localTree(dir: string): Promise<Set<string>> {
  const out = new Set<string>();
  const walk = async (d: string) => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.add(p);
    }
  };
  await walk(dir);
  return out;
}

/** The objects under `lakePrefixes` (path → size and generation) and the files under `localDirs`. */
export async function snapshot(lake: LakeStorage, lakePrefixes: string[], localDirs: string[]): Promise<Snapshot> {
  const s: Snapshot = { lake: new Map(), local: new Map() };
  for (const prefix of lakePrefixes) for (const o of await lake.list(prefix)) s.lake.set(o.path, `${o.size}:${o.generation}`);
  for (const d of localDirs) s.local.set(d, await localTree(d));
  return s;
}

/**
 * Objects that appeared or changed since `before`, less those of a publication that appeared meanwhile (a concurrent
 * run of the same step for another version or dataset publishes into the same tree, manifest-listed).
 */
async function strayObjects(lake: LakeStorage, before: Snapshot, after: Snapshot): Promise<string[]> {
  const changed = [...after.lake].filter(([p, v]) => before.lake.get(p) !== v).map(([p]) => p);
  const listed = new Map<string, Set<string> | null>();
  const published = async (dir: string): Promise<Set<string> | null> => {
    if (!listed.has(dir)) {
      const text = await lake.readText(lakeJoin(dir, MANIFEST_FILE)).catch(() => null);
      let files: Set<string> | null = null;
      try {
        if (text) files = new Set([MANIFEST_FILE, ...(JSON.parse(text).files as { path: string }[]).map((f) => f.path)]);
      } catch { /* an unreadable manifest publishes nothing */ }
      listed.set(dir, files);
    }
    return listed.get(dir)!;
  };
  const stray: string[] = [];
  for (const p of changed) {
    let ok = false;
    // The publication a path belongs to is the nearest ancestor with a manifest listing it.
    for (let dir = p.split('/').slice(0, -1).join('/'); dir && !ok; dir = dir.split('/').slice(0, -1).join('/')) {
      const files = await published(dir);
      if (files && files.has(p.slice(dir.length + 1)) && !before.lake.has(lakeJoin(dir, MANIFEST_FILE))) ok = true;
    }
    if (!ok) stray.push(p);
  }
  return stray;
}

/** Symlinks under `workDir` whose target lies outside it (dangling ones judged by where they point). */
export async function outsideSymlinks(workDir: string): Promise<{ path: string; target: string }[]> {
  const root = await realpath(workDir);
  const out: { path: string; target: string }[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isSymbolicLink()) {
        const target = await realpath(p).catch(async () => resolve(dirname(p), await readlink(p)));
        if (!isInside(root, target)) out.push({ path: relative(workDir, p).split(sep).join('/'), target });
      } else if (e.isDirectory()) await walk(p);
    }
  };
  if ((await lstat(workDir)).isDirectory()) await walk(workDir);
  return out;
}

/** Refuses (BadInput, naming the path and the script) anything the script wrote outside its work directory. */
export async function checkConfinement(o: { lake: LakeStorage; before: Snapshot; lakePrefixes: string[]; localDirs: string[]; workDir: string; what: string; script: string }): Promise<void> {
  const after = await snapshot(o.lake, o.lakePrefixes, o.localDirs);
  const stray = await strayObjects(o.lake, o.before, after);
  if (stray.length) {
    throw badInput(`${o.what} wrote outside its work directory: ${stray.slice(0, 5).map((p) => o.lake.uri(p)).join(', ')}${stray.length > 5 ? ` and ${stray.length - 5} more` : ''}; a step writes its outputs into ctx.work_dir only`, { file: o.script, path: o.lake.uri(stray[0]) });
  }
  for (const [dir, files] of after.local) {
    const added = [...files].filter((f) => !o.before.local.get(dir)?.has(f));
    if (added.length) throw badInput(`${o.what} wrote into its staged input directory: ${added[0]}; inputs are read-only, a step writes into ctx.work_dir only`, { file: o.script, path: added[0] });
  }
  const links = await outsideSymlinks(o.workDir);
  if (links.length) {
    throw badInput(`${o.what} left a symlink in its work directory pointing outside it: ${links[0].path} → ${links[0].target}; write the file itself`, { file: o.script, path: links[0].path });
  }
}
