// Abandoned work directories. An attempt computes into a hidden `.<version>.tmp-<owner>-<uuid>` sibling of its
// output and renames it on publish; a killed attempt (SIGKILL, OOM kill, node lost) leaves it behind. They are
// removed by the next attempt at the same output and by `lakeforge lake gc`, and only when provably abandoned:
// the owner process (named in the directory) is gone on this host, or nothing in the directory changed for the TTL.
// Published versions are never touched: only hidden `.tmp-`/`.trash-` entries are candidates.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** The default time after which an untouched work directory of another host counts as abandoned. */
export const DEFAULT_WORK_TTL_MS = 6 * 3600_000;

const HOST = hostname().replace(/[^A-Za-z0-9.-]/g, '_').slice(0, 64) || 'host';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** `.<name>.tmp-<pid>@<host>-<uuid>` (ours), `.<name>.tmp-<uuid>` (before owners were recorded), `.<name>.trash-<uuid>`. */
const WORK_RE = new RegExp(`^\\.(.+)\\.(tmp|trash)-(?:(\\d+)@([A-Za-z0-9._-]+)-)?(${UUID})$`);
/** `<file>.tmp-<uuid>`: an atomic write or upload that never got its rename. */
const TMPFILE_RE = new RegExp(`^(?!\\.).+\\.tmp-${UUID}$`);

/** The hidden work directory name for an output named `name`, recording this process as its owner. */
export function workDirName(name: string): string {
  return `.${name}.tmp-${process.pid}@${HOST}-${randomUUID()}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, someone else's
  }
}

/** Newest mtime of a directory and everything in it (a live attempt keeps writing into its work directory). */
async function newestMtime(path: string): Promise<number> {
  const st = await stat(path);
  let newest = st.mtimeMs;
  if (st.isDirectory()) {
    for (const e of await readdir(path, { withFileTypes: true })) newest = Math.max(newest, await newestMtime(join(path, e.name)).catch(() => 0));
  }
  return newest;
}

export interface GcOptions {
  ttlMs?: number;
  now?: number;
  dryRun?: boolean;
}

/** Why an entry is abandoned, or null when it may still be in use (or is no work entry at all). */
export async function abandoned(dir: string, entry: string, o: GcOptions = {}): Promise<string | null> {
  const ttl = o.ttlMs ?? DEFAULT_WORK_TTL_MS;
  const m = WORK_RE.exec(entry);
  if (!m && !TMPFILE_RE.test(entry)) return null;
  if (m?.[2] === 'trash') return 'a publication moved aside and not yet deleted';
  if (m?.[3] && m[4] === HOST && Number(m[3]) !== process.pid && !alive(Number(m[3]))) return `its owner process ${m[3]} on ${m[4]} is gone`;
  const age = (o.now ?? Date.now()) - (await newestMtime(join(dir, entry)).catch(() => Date.now()));
  if (age > ttl) return `untouched for ${Math.round(age / 60_000)} min (TTL ${Math.round(ttl / 60_000)} min)`;
  return null;
}

/** Removes the abandoned work entries of one output (`name`) in `dir`; called before a new attempt starts. */
export async function sweepSiblings(dir: string, name: string, o: GcOptions = {}): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const e of entries) {
    if (!e.startsWith(`.${name}.tmp-`) && !e.startsWith(`.${name}.trash-`)) continue;
    if (await abandoned(dir, e, o)) {
      if (!o.dryRun) await rm(join(dir, e), { recursive: true, force: true });
      removed.push(join(dir, e));
    }
  }
  return removed;
}

export interface GcEntry {
  path: string;
  reason: string;
  bytes: number;
}

async function sizeOf(path: string): Promise<number> {
  const st = await stat(path).catch(() => null);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of await readdir(path)) n += await sizeOf(join(path, e));
  return n;
}

/** Every abandoned work entry under `root` (a local lake, or a staging directory), removed unless dryRun. */
export async function gcTree(root: string, o: GcOptions = {}): Promise<GcEntry[]> {
  const out: GcEntry[] = [];
  const walk = async (dir: string) => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const reason = await abandoned(dir, e.name, o);
      const path = join(dir, e.name);
      if (reason) {
        out.push({ path, reason, bytes: await sizeOf(path) });
        if (!o.dryRun) await rm(path, { recursive: true, force: true });
      } else if (e.isDirectory() && !WORK_RE.test(e.name)) {
        await walk(path);
      }
    }
  };
  await walk(root);
  return out;
}
