import { Storage, type Bucket } from '@google-cloud/storage';
import { stat } from 'node:fs/promises';
import { storageUnavailable } from '../../contracts/failures.js';
import type { ListOptions } from './types.js';
import { isNetworkError, parseBucketUri, RemoteLake, type RemoteObject } from './remote.js';

/** CRC32C of an object's content, from its metadata (a concurrent, identical re-upload keeps it). */
function gcsFingerprint(md: { crc32c?: string; generation?: unknown }): string {
  return md.crc32c ? `crc32c:${md.crc32c}` : `generation:${String(md.generation ?? '')}`;
}

function gcsObject(name: string, md: { size?: unknown; generation?: unknown; crc32c?: string; updated?: string }): RemoteObject {
  return { name, size: Number(md.size ?? 0), generation: String(md.generation ?? ''), fingerprint: gcsFingerprint(md), modifiedMs: md.updated ? Date.parse(md.updated) : undefined };
}

export interface GcsOptions {
  /** An emulator or private endpoint (`http://host:port`); default LAKEFORGE_GCS_ENDPOINT, then Google's. */
  apiEndpoint?: string;
  projectId?: string;
  /** Root of the local staging cache and of work directories. */
  stagingDir: string;
}

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
  return isNetworkError(err);
}

/**
 * A lake in a GCS bucket under a prefix (remote.ts does the lake; this file the GCS calls). Generations are GCS's
 * object generations, fingerprints the CRC32C in the metadata, and the manifest is written with ifGenerationMatch 0.
 */
export class GcsLake extends RemoteLake {
  readonly kind = 'gs' as const;
  private readonly bucket: Bucket;

  constructor(rootUri: string, opts: GcsOptions) {
    super(parseBucketUri('gs', rootUri, /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/), opts.stagingDir);
    // (STORAGE_EMULATOR_HOST is read by @google-cloud/storage itself, as the full JSON API base URL.)
    const apiEndpoint = opts.apiEndpoint ?? process.env.LAKEFORGE_GCS_ENDPOINT;
    const storage = new Storage({
      ...(apiEndpoint ? { apiEndpoint } : {}),
      ...(opts.projectId ? { projectId: opts.projectId } : apiEndpoint ? { projectId: 'lakeforge-emulated' } : {}),
      // Temporal retries the activity with backoff; the client's own retries stay short so failures surface.
      retryOptions: { autoRetry: true, maxRetries: 2, totalTimeout: 60 },
    });
    this.bucket = storage.bucket(this.bucketName);
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isTransient(err)) throw storageUnavailable(`GCS ${what} failed: ${(err as Error).message}`, err);
      throw err;
    }
  }

  private gsUri(name: string): string {
    return `gs://${this.bucketName}/${name}`;
  }

  protected async listObjects(namePrefix: string, _opts: ListOptions): Promise<RemoteObject[]> {
    const [files] = await this.call(`list ${this.gsUri(namePrefix)}`, () => this.bucket.getFiles({ prefix: namePrefix, autoPaginate: true }));
    return files.map((f) => gcsObject(f.name, f.metadata));
  }

  protected async listChildren(namePrefix: string): Promise<string[]> {
    const out: string[] = [];
    let pageToken: string | undefined;
    do {
      const [, next, res] = await this.call(`list ${this.gsUri(namePrefix)}`, () =>
        this.bucket.getFiles({ prefix: namePrefix, delimiter: '/', autoPaginate: false, maxResults: 1000, pageToken }));
      for (const p of ((res as { prefixes?: string[] } | undefined)?.prefixes ?? [])) out.push(p.slice(namePrefix.length).replace(/\/$/, ''));
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
    } while (pageToken);
    return out;
  }

  protected async headObject(name: string): Promise<RemoteObject | null> {
    try {
      const [md] = await this.call(`stat ${this.gsUri(name)}`, () => this.bucket.file(name).getMetadata());
      return gcsObject(name, md);
    } catch (err) {
      if (isNotFoundError(err)) return null;
      throw err;
    }
  }

  protected async getText(name: string): Promise<string | null> {
    try {
      const [buf] = await this.call(`read ${this.gsUri(name)}`, () => this.bucket.file(name).download());
      return buf.toString('utf8');
    } catch (err) {
      if (isNotFoundError(err)) return null;
      throw err;
    }
  }

  protected async putText(name: string, text: string): Promise<void> {
    await this.call(`write ${this.gsUri(name)}`, () => this.bucket.file(name).save(text, { resumable: false, contentType: 'application/json' }));
  }

  protected async putTextIfAbsent(name: string, text: string): Promise<boolean> {
    try {
      await this.call(`publish ${this.gsUri(name)}`, () =>
        this.bucket.file(name).save(text, { resumable: false, contentType: 'application/json', preconditionOpts: { ifGenerationMatch: 0 } }));
      return true;
    } catch (err) {
      if (isPreconditionFailed(err)) return false;
      throw err;
    }
  }

  protected async uploadFile(localPath: string, name: string): Promise<void> {
    const { size } = await stat(localPath);
    await this.call(`upload ${this.gsUri(name)}`, () => this.bucket.upload(localPath, { destination: name, resumable: size > 16 * 1024 * 1024 }));
  }

  protected async downloadGeneration(name: string, generation: string, dest: string): Promise<boolean> {
    try {
      await this.call(`download ${this.gsUri(name)}`, () =>
        this.bucket.file(name, { generation: Number(generation) }).download({ destination: dest, validation: 'crc32c' }));
      return true;
    } catch (err) {
      if (isNotFoundError(err)) return false;
      throw err;
    }
  }

  protected async deleteObject(name: string): Promise<void> {
    await this.call(`delete ${this.gsUri(name)}`, () => this.bucket.file(name).delete({ ignoreNotFound: true }));
  }

  protected async deletePrefix(namePrefix: string): Promise<void> {
    await this.call(`delete ${this.gsUri(namePrefix)}`, () => this.bucket.deleteFiles({ prefix: namePrefix, force: true }));
  }
}
