import { randomUUID } from 'node:crypto';
import { copyFile, link, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { badInput } from '../../contracts/failures.js';
import { confinePath } from './paths.js';
import { checkLink } from './symlinks.js';
import { sweepSiblings, workDirName } from './gc.js';
import { localGeneration, withLocalGenerations } from './fingerprint.js';
import type { Manifest } from './manifest.js';
import { verifyPublished } from './manifest.js';
import type { LakeStorage, ObjectInfo, PublishOutcome } from './types.js';
import { MANIFEST_FILE } from './types.js';

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Writes a file via a temporary sibling and rename, fsynced, so readers never see a torn file. */
async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${randomUUID()}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/**
 * A lake on the local filesystem. Outputs are computed in a hidden sibling `.<name>.tmp-<uuid>` of their final
 * directory (same filesystem), so publishing is one atomic directory rename.
 */
export class LocalLake implements LakeStorage {
  readonly kind = 'file' as const;
  readonly rootUri: string;
  readonly rootDir: string;

  constructor(rootUri: string) {
    let dir: string;
    try {
      dir = fileURLToPath(rootUri);
    } catch (err) {
      throw badInput(`lake ${JSON.stringify(rootUri)} is not a valid file:// URI: ${(err as Error).message}`);
    }
    this.rootDir = resolve(dir);
    this.rootUri = pathToFileURL(this.rootDir).href.replace(/\/$/, '');
  }

  abs(rel: string): string {
    return join(this.rootDir, ...confinePath(rel).split('/'));
  }

  uri(rel: string): string {
    // `%` is escaped so that relative() (which decodes) gives back a name holding Spark's `%3A` escapes.
    return `${this.rootUri}/${confinePath(rel).replace(/%/g, '%25')}`;
  }

  relative(uri: string): string {
    if (!uri.startsWith(`${this.rootUri}/`)) throw badInput(`${uri} is not inside the lake ${this.rootUri}`);
    return confinePath(decodeURIComponent(uri.slice(this.rootUri.length + 1)));
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const base = confinePath(prefix);
    const out: ObjectInfo[] = [];
    const walk = async (rel: string) => {
      let entries;
      try {
        entries = await readdir(this.abs(rel), { withFileTypes: true });
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      for (const e of entries) {
        // Hidden entries are in-flight work directories and temp files: not part of the lake.
        if (e.name.startsWith('.')) continue;
        const child = `${rel}/${e.name}`;
        if (e.isDirectory()) await walk(child);
        else if (e.isFile() || (e.isSymbolicLink() && (await checkLink(this.rootDir, this.abs(child), this.uri(child))) === 'file')) {
          const info = await this.stat(child);
          if (info) out.push(info);
        }
      }
    };
    await walk(base);
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async topLevel(): Promise<string[]> {
    try {
      return (await readdir(this.rootDir, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  async stat(rel: string): Promise<ObjectInfo | null> {
    const path = confinePath(rel);
    try {
      const st = await stat(this.abs(path), { bigint: true });
      if (!st.isFile()) return null;
      return { path, size: Number(st.size), generation: localGeneration(st), modifiedMs: Number(st.mtimeMs) };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async readText(rel: string): Promise<string | null> {
    try {
      return await readFile(this.abs(rel), 'utf8');
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async writeText(rel: string, text: string): Promise<void> {
    await writeAtomic(this.abs(rel), text);
  }

  async putFile(localPath: string, rel: string): Promise<void> {
    const dest = this.abs(rel);
    await mkdir(dirname(dest), { recursive: true });
    const tmp = `${dest}.tmp-${randomUUID()}`;
    await copyFile(localPath, tmp);
    await rename(tmp, dest);
  }

  async removeObject(rel: string): Promise<void> {
    await rm(this.abs(rel), { force: true });
  }

  async removePrefix(prefix: string): Promise<void> {
    await rm(this.abs(prefix), { recursive: true, force: true });
  }

  async stage(obj: ObjectInfo): Promise<string> {
    return this.abs(obj.path);
  }

  async copyToLocal(obj: ObjectInfo, dest: string): Promise<void> {
    try {
      await link(this.abs(obj.path), dest);
    } catch {
      await copyFile(this.abs(obj.path), dest);
    }
  }

  async createWorkDir(destRel: string): Promise<string> {
    const dest = this.abs(destRel);
    const parts = confinePath(destRel).split('/');
    const name = parts[parts.length - 1];
    // A killed earlier attempt's work directory for this output goes first (gc.ts: only when provably abandoned).
    await sweepSiblings(dirname(dest), name);
    const dir = join(dirname(dest), workDirName(name));
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async discardWorkDir(workDir: string): Promise<void> {
    await rm(workDir, { recursive: true, force: true });
  }

  async publish(workDir: string, destRel: string, manifest: Manifest): Promise<PublishOutcome> {
    const dest = this.abs(destRel);
    // The manifest goes in last; the rename then makes directory and manifest appear together.
    // Each file's generation goes into the manifest, so a cache hit notices a file rewritten at the same size.
    manifest = await withLocalGenerations(manifest, workDir);
    await writeAtomic(join(workDir, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await verifyPublished(this, destRel, manifest.version);
      if (existing.ok) {
        // A concurrent run of the same version published first: same inputs, same content; keep theirs.
        await this.discardWorkDir(workDir);
        return 'already-published';
      }
      // A broken or partial publication (e.g. a file deleted by hand) is moved aside, not merged into.
      const trash = join(dirname(dest), `.${destRel.split('/').pop()}.trash-${randomUUID()}`);
      try {
        await rename(dest, trash);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      await rm(trash, { recursive: true, force: true });
      try {
        await rename(workDir, dest);
        return 'published';
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Someone renamed theirs in between: look again.
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      }
    }
    throw new Error(`could not publish ${this.uri(destRel)}: it kept changing under concurrent writers`);
  }
}
