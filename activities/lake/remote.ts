// What an object-store lake (gs://, s3://) does the same whatever the store: paths under a bucket prefix, a local
// staging cache keyed by object generation, work directories computed locally, and publication as data objects
// first, then the manifest with a create-only precondition. A backend (gcs.ts, s3.ts) supplies the object calls
// and classifies its own errors.
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { badInput } from '../../contracts/failures.js';
import { confinePath } from './paths.js';
import type { Manifest } from './manifest.js';
import { listLocalFiles, verifyPublished } from './manifest.js';
import type { ListOptions, LakeStorage, ObjectInfo, PublishOutcome } from './types.js';
import { sweepSiblings, workDirName } from './gc.js';
import { withGenerations } from './fingerprint.js';
import { MANIFEST_FILE } from './types.js';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/** A failure below HTTP (refused, reset, timed out, DNS): the same on every object store, and worth a retry. */
export function isNetworkError(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: { code?: unknown }; errors?: { code?: unknown }[]; message?: unknown };
  if ([e?.code, e?.cause?.code, e?.errors?.[0]?.code].some((c) => typeof c === 'string' && NETWORK_CODES.has(c))) return true;
  return /socket hang up|ECONNREFUSED|ECONNRESET|ETIMEDOUT|network|fetch failed/i.test(String(e?.message ?? ''));
}

/** One object as a backend reports it, by full object name. */
export interface RemoteObject {
  name: string;
  size: number;
  generation: string;
  fingerprint?: string;
  modifiedMs?: number;
}

/** Parses `<scheme>://bucket/prefix`; the prefix is confined like any lake path. */
export function parseBucketUri(scheme: 'gs' | 's3', rootUri: string, bucketRe: RegExp): { bucket: string; prefix: string; rootUri: string } {
  const m = new RegExp(`^${scheme}://([^/]+)(/.*)?$`).exec(rootUri);
  if (!m || !bucketRe.test(m[1])) throw badInput(`lake ${JSON.stringify(rootUri)} is not a ${scheme}://bucket/prefix URI with a valid bucket name`);
  const rawPrefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  const prefix = rawPrefix ? confinePath(rawPrefix, 'lake prefix') : '';
  return { bucket: m[1], prefix, rootUri: `${scheme}://${m[1]}${prefix ? `/${prefix}` : ''}` };
}

export abstract class RemoteLake implements LakeStorage {
  abstract readonly kind: 'gs' | 's3';
  readonly rootUri: string;
  readonly bucketName: string;
  readonly prefix: string;
  protected readonly stagingDir: string;

  constructor(loc: { bucket: string; prefix: string; rootUri: string }, stagingDir: string) {
    this.bucketName = loc.bucket;
    this.prefix = loc.prefix;
    this.rootUri = loc.rootUri;
    this.stagingDir = stagingDir;
  }

  // ---- what a backend supplies (object names are full names in the bucket) ----
  protected abstract listObjects(namePrefix: string, opts: ListOptions): Promise<RemoteObject[]>;
  protected abstract headObject(name: string): Promise<RemoteObject | null>;
  /** The `<namePrefix><child>/` common prefixes one level below `namePrefix` (a delimiter listing), as child names. */
  protected abstract listChildren(namePrefix: string): Promise<string[]>;
  protected abstract getText(name: string): Promise<string | null>;
  protected abstract putText(name: string, text: string): Promise<void>;
  /** Writes `text` only when no object of that name exists; false when one does (another publisher won). */
  protected abstract putTextIfAbsent(name: string, text: string): Promise<boolean>;
  protected abstract uploadFile(localPath: string, name: string): Promise<void>;
  /** Downloads exactly `generation` of the object to `dest`; returns false when that generation is gone. */
  protected abstract downloadGeneration(name: string, generation: string, dest: string): Promise<boolean>;
  protected abstract deleteObject(name: string): Promise<void>;
  protected abstract deletePrefix(namePrefix: string): Promise<void>;

  protected objectName(rel: string): string {
    const p = confinePath(rel);
    return this.prefix ? `${this.prefix}/${p}` : p;
  }

  protected relOf(objectName: string): string {
    return this.prefix ? objectName.slice(this.prefix.length + 1) : objectName;
  }

  private info(o: RemoteObject): ObjectInfo {
    return { path: this.relOf(o.name), size: o.size, generation: o.generation, fingerprint: o.fingerprint, modifiedMs: o.modifiedMs };
  }

  uri(rel: string): string {
    return `${this.rootUri}/${confinePath(rel)}`;
  }

  relative(uri: string): string {
    if (!uri.startsWith(`${this.rootUri}/`)) throw badInput(`${uri} is not inside the lake ${this.rootUri}`);
    return confinePath(uri.slice(this.rootUri.length + 1));
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    for (const o of await this.listObjects(`${this.objectName(prefix)}/`, opts)) {
      if (o.name.endsWith('/')) continue; // "folder" placeholder objects
      const info = this.info(o);
      if (info.path.split('/').some((s) => s.startsWith('.'))) continue;
      out.push(info);
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async topLevel(): Promise<string[]> {
    const names = await this.listChildren(this.prefix ? `${this.prefix}/` : '');
    return names.filter((n) => !n.startsWith('.')).sort();
  }

  async stat(rel: string): Promise<ObjectInfo | null> {
    const o = await this.headObject(this.objectName(rel));
    return o ? this.info(o) : null;
  }

  readText(rel: string): Promise<string | null> {
    return this.getText(this.objectName(rel));
  }

  writeText(rel: string, text: string): Promise<void> {
    return this.putText(this.objectName(rel), text);
  }

  putFile(localPath: string, rel: string): Promise<void> {
    return this.uploadFile(localPath, this.objectName(rel));
  }

  removeObject(rel: string): Promise<void> {
    return this.deleteObject(this.objectName(rel));
  }

  removePrefix(prefix: string): Promise<void> {
    return this.deletePrefix(`${this.objectName(prefix)}/`);
  }

  async stage(obj: ObjectInfo): Promise<string> {
    // Keyed by bucket, object name and generation: a rewritten object has a new generation and is fetched again.
    const name = this.objectName(obj.path);
    const gen = obj.generation.replace(/[^A-Za-z0-9._-]/g, '_');
    const local = join(this.stagingDir, this.kind, this.bucketName, `${name}@${gen}`, name.split('/').pop()!);
    try {
      const st = await stat(local);
      if (st.size === obj.size) return local;
    } catch {
      /* not cached yet */
    }
    await mkdir(dirname(local), { recursive: true });
    const tmp = `${local}.tmp-${randomUUID()}`;
    try {
      if (!(await this.downloadGeneration(name, obj.generation, tmp))) {
        throw badInput(`${this.uri(obj.path)} (generation ${obj.generation}) was replaced or deleted while being read; run again to read its new content`);
      }
      await rename(tmp, local);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return local;
  }

  async copyToLocal(obj: ObjectInfo, dest: string): Promise<void> {
    await copyFile(await this.stage(obj), dest);
  }

  async createWorkDir(destRel: string): Promise<string> {
    const name = confinePath(destRel).replace(/\//g, '__');
    await sweepSiblings(join(this.stagingDir, 'work'), name);
    const dir = join(this.stagingDir, 'work', workDirName(name));
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async discardWorkDir(workDir: string): Promise<void> {
    await rm(workDir, { recursive: true, force: true });
  }

  async publish(workDir: string, destRel: string, manifest: Manifest): Promise<PublishOutcome> {
    const dest = confinePath(destRel);
    const existing = await verifyPublished(this, dest, manifest.version);
    if (existing.ok) {
      await this.discardWorkDir(workDir);
      return 'already-published';
    }
    // A broken publication: withdraw its manifest first so no reader trusts it while files are replaced.
    if (existing.manifest) await this.deleteObject(this.objectName(`${dest}/${MANIFEST_FILE}`));
    const files = await listLocalFiles(workDir);
    // Data files first (a few at a time), then the manifest.
    const queue = [...files];
    const uploaders = Array.from({ length: Math.min(4, queue.length) }, async () => {
      for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
        await this.putFile(join(workDir, ...f.split('/')), `${dest}/${f}`);
      }
    });
    await Promise.all(uploaders);
    // The uploaded objects' content checksums go into the manifest: other bytes written later change them (fingerprint.ts).
    const uploaded = new Map((await this.list(dest, { fingerprints: true })).map((o) => [o.path, o.fingerprint ?? o.generation]));
    const body = JSON.stringify(withGenerations(manifest, (p) => uploaded.get(`${dest}/${p}`)), null, 2);
    // Only if no manifest exists: of concurrent publishers exactly one commits.
    const won = await this.putTextIfAbsent(this.objectName(`${dest}/${MANIFEST_FILE}`), body);
    await this.discardWorkDir(workDir);
    return won ? 'published' : 'already-published';
  }
}
