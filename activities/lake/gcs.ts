import { Storage, type Bucket } from '@google-cloud/storage';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { badInput, storageUnavailable } from '../../contracts/failures.js';
import { confinePath } from './paths.js';
import type { Manifest } from './manifest.js';
import { listLocalFiles, verifyPublished } from './manifest.js';
import type { LakeStorage, ObjectInfo, PublishOutcome } from './types.js';
import { sweepSiblings, workDirName } from './gc.js';
import { withGenerations } from './fingerprint.js';
import { MANIFEST_FILE } from './types.js';

/** CRC32C of an object's content, from its metadata (a concurrent, identical re-upload keeps it). */
function gcsFingerprint(md: { crc32c?: string; generation?: unknown }): string {
  return md.crc32c ? `crc32c:${md.crc32c}` : `generation:${String(md.generation ?? '')}`;
}

export interface GcsOptions {
  /** An emulator or private endpoint; defaults to STORAGE_EMULATOR_HOST, then Google's. */
  apiEndpoint?: string;
  projectId?: string;
  /** Root of the local staging cache and of work directories. */
  stagingDir: string;
}

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

function errCode(err: unknown): number | string | undefined {
  const e = err as { code?: number | string; cause?: { code?: string }; errors?: { code?: string }[] };
  return e?.code ?? e?.cause?.code ?? e?.errors?.[0]?.code;
}

export function isNotFoundError(err: unknown): boolean {
  return errCode(err) === 404;
}

function isPreconditionFailed(err: unknown): boolean {
  return errCode(err) === 412;
}

/** Network failures, throttling and server errors are StorageUnavailable (retryable); auth errors too, since the lake cannot be reached. */
export function isTransient(err: unknown): boolean {
  const code = errCode(err);
  if (typeof code === 'number') return code === 408 || code === 429 || code >= 500 || code === 401 || code === 403;
  if (typeof code === 'string') return TRANSIENT_CODES.has(code);
  const msg = String((err as Error)?.message ?? '');
  return /socket hang up|ECONNREFUSED|ECONNRESET|ETIMEDOUT|network|fetch failed/i.test(msg);
}

/**
 * A lake in a GCS bucket under a prefix. Reads go through a local staging cache keyed by object generation;
 * outputs are computed locally and uploaded, manifest last, with an if-not-exists precondition on the manifest.
 */
export class GcsLake implements LakeStorage {
  readonly kind = 'gs' as const;
  readonly rootUri: string;
  readonly bucketName: string;
  readonly prefix: string;
  private readonly bucket: Bucket;
  private readonly stagingDir: string;

  constructor(rootUri: string, opts: GcsOptions) {
    const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(\/.*)?$/.exec(rootUri);
    if (!m) throw badInput(`lake ${JSON.stringify(rootUri)} is not a gs://bucket/prefix URI`);
    this.bucketName = m[1];
    const rawPrefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
    this.prefix = rawPrefix ? confinePath(rawPrefix, 'lake prefix') : '';
    this.rootUri = `gs://${this.bucketName}${this.prefix ? `/${this.prefix}` : ''}`;
    const apiEndpoint = opts.apiEndpoint ?? process.env.STORAGE_EMULATOR_HOST;
    const storage = new Storage({
      ...(apiEndpoint ? { apiEndpoint } : {}),
      ...(opts.projectId ? { projectId: opts.projectId } : apiEndpoint ? { projectId: 'lakeforge-emulated' } : {}),
      // Temporal retries the activity with backoff; the client's own retries stay short so failures surface.
      retryOptions: { autoRetry: true, maxRetries: 2, totalTimeout: 60 },
    });
    this.bucket = storage.bucket(this.bucketName);
    this.stagingDir = opts.stagingDir;
  }

  private objectName(rel: string): string {
    const p = confinePath(rel);
    return this.prefix ? `${this.prefix}/${p}` : p;
  }

  private relOf(objectName: string): string {
    return this.prefix ? objectName.slice(this.prefix.length + 1) : objectName;
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isTransient(err)) throw storageUnavailable(`GCS ${what} failed: ${(err as Error).message}`, err);
      throw err;
    }
  }

  uri(rel: string): string {
    return `${this.rootUri}/${confinePath(rel)}`;
  }

  relative(uri: string): string {
    if (!uri.startsWith(`${this.rootUri}/`)) throw badInput(`${uri} is not inside the lake ${this.rootUri}`);
    return confinePath(uri.slice(this.rootUri.length + 1));
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const base = `${this.objectName(prefix)}/`;
    const [files] = await this.call(`list ${this.uri(prefix)}`, () => this.bucket.getFiles({ prefix: base, autoPaginate: true }));
    const out: ObjectInfo[] = [];
    for (const f of files) {
      if (f.name.endsWith('/')) continue; // "folder" placeholder objects
      const rel = this.relOf(f.name);
      if (rel.split('/').some((s) => s.startsWith('.'))) continue;
      out.push({ path: rel, size: Number(f.metadata.size ?? 0), generation: String(f.metadata.generation ?? ''), fingerprint: gcsFingerprint(f.metadata) });
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async stat(rel: string): Promise<ObjectInfo | null> {
    const path = confinePath(rel);
    try {
      const [md] = await this.call(`stat ${this.uri(path)}`, () => this.bucket.file(this.objectName(path)).getMetadata());
      return { path, size: Number(md.size ?? 0), generation: String(md.generation ?? ''), fingerprint: gcsFingerprint(md) };
    } catch (err) {
      if (isNotFoundError(err)) return null;
      throw err;
    }
  }

  async readText(rel: string): Promise<string | null> {
    try {
      const [buf] = await this.call(`read ${this.uri(rel)}`, () => this.bucket.file(this.objectName(rel)).download());
      return buf.toString('utf8');
    } catch (err) {
      if (isNotFoundError(err)) return null;
      throw err;
    }
  }

  async writeText(rel: string, text: string): Promise<void> {
    await this.call(`write ${this.uri(rel)}`, () =>
      this.bucket.file(this.objectName(rel)).save(text, { resumable: false, contentType: 'application/json' }));
  }

  async putFile(localPath: string, rel: string): Promise<void> {
    const { size } = await stat(localPath);
    await this.call(`upload ${this.uri(rel)}`, () =>
      this.bucket.upload(localPath, { destination: this.objectName(rel), resumable: size > 16 * 1024 * 1024 }));
  }

  async removeObject(rel: string): Promise<void> {
    await this.call(`delete ${this.uri(rel)}`, () => this.bucket.file(this.objectName(rel)).delete({ ignoreNotFound: true }));
  }

  async removePrefix(prefix: string): Promise<void> {
    await this.call(`delete ${this.uri(prefix)}`, () => this.bucket.deleteFiles({ prefix: `${this.objectName(prefix)}/`, force: true }));
  }

  async stage(obj: ObjectInfo): Promise<string> {
    // Keyed by bucket, object name and generation: a rewritten object has a new generation and is fetched again.
    const name = this.objectName(obj.path);
    const local = join(this.stagingDir, 'gs', this.bucketName, `${name}@${obj.generation}`, name.split('/').pop()!);
    try {
      const st = await stat(local);
      if (st.size === obj.size) return local;
    } catch {
      /* not cached yet */
    }
    await mkdir(dirname(local), { recursive: true });
    const tmp = `${local}.tmp-${randomUUID()}`;
    try {
      await this.call(`download ${this.uri(obj.path)}`, () =>
        this.bucket.file(name, { generation: Number(obj.generation) }).download({ destination: tmp, validation: 'crc32c' }));
      await rename(tmp, local);
    } catch (err) {
      await rm(tmp, { force: true });
      if (isNotFoundError(err)) throw badInput(`${this.uri(obj.path)} (generation ${obj.generation}) vanished while being read`);
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
    if (existing.manifest) {
      // A broken publication: withdraw its manifest first so no reader trusts it while files are replaced.
      await this.call(`delete ${this.uri(`${dest}/${MANIFEST_FILE}`)}`, () =>
        this.bucket.file(this.objectName(`${dest}/${MANIFEST_FILE}`)).delete({ ignoreNotFound: true }));
    }
    const files = await listLocalFiles(workDir);
    // Data files first (a few at a time), then the manifest.
    const queue = [...files];
    const workers = Array.from({ length: Math.min(4, queue.length) }, async () => {
      for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
        await this.putFile(join(workDir, ...f.split('/')), `${dest}/${f}`);
      }
    });
    await Promise.all(workers);
    // The uploaded objects' content checksums go into the manifest: other bytes written later change them (fingerprint.ts).
    const uploaded = new Map((await this.list(dest)).map((o) => [o.path, o.fingerprint]));
    const body = JSON.stringify(withGenerations(manifest, (p) => uploaded.get(`${dest}/${p}`)), null, 2);
    try {
      await this.call(`publish ${this.uri(dest)}`, () =>
        this.bucket.file(this.objectName(`${dest}/${MANIFEST_FILE}`)).save(body, {
          resumable: false,
          contentType: 'application/json',
          // Only if no manifest exists: of concurrent publishers exactly one commits.
          preconditionOpts: { ifGenerationMatch: 0 },
        }));
    } catch (err) {
      if (!isPreconditionFailed(err)) throw err;
      await this.discardWorkDir(workDir);
      return 'already-published';
    }
    await this.discardWorkDir(workDir);
    return 'published';
  }
}

