// A lake in an S3 bucket (AWS, or any S3-compatible store: MinIO, Ceph RGW, SeaweedFS, Versity, R2) under a prefix.
// remote.ts does the lake; this file the S3 calls and what S3's errors mean. Generations are ETags (downloads are
// pinned to them with If-Match), fingerprints S3's own checksums (CRC32C, written with every upload), and the
// manifest is written with If-None-Match: * so that of two publishers of one version exactly one wins.
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
  paginateListObjectsV2,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { storageAccessDenied, storageMisconfigured, storageUnavailable } from '../../contracts/failures.js';
import type { ListOptions } from './types.js';
import { isNetworkError, parseBucketUri, RemoteLake, type RemoteObject } from './remote.js';

// The SDK warns on every process start that releases after January 2027 need Node 22. The release pinned in
// package.json supports Node 20, lakeforge's runtime, so the warning says nothing a user can act on.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface S3Options {
  /** An S3-compatible endpoint (`http://host:port`); default LAKEFORGE_S3_ENDPOINT, then AWS_ENDPOINT_URL_S3, then AWS. */
  endpoint?: string;
  /** Default AWS_REGION, then AWS_DEFAULT_REGION, then the SDK's profile; `us-east-1` with an endpoint override. */
  region?: string;
  /** Path-style addressing (`endpoint/bucket/key`); default LAKEFORGE_S3_PATH_STYLE, else on with an endpoint override. */
  forcePathStyle?: boolean;
  /** Explicit credentials; default the SDK's credential chain (environment, profile, SSO, web identity, instance role). */
  credentials?: S3ClientConfig['credentials'];
  /** Multipart part size in bytes (S3's minimum is 5 MiB); default 16 MiB. */
  partSize?: number;
  /** Root of the local staging cache and of work directories. */
  stagingDir: string;
}

/** The client settings from options and the environment (exported for `lakeforge doctor`-style reporting and tests). */
export function s3ClientConfig(opts: Omit<S3Options, 'stagingDir'>, env: NodeJS.ProcessEnv = process.env): S3ClientConfig {
  const endpoint = opts.endpoint ?? env.LAKEFORGE_S3_ENDPOINT ?? env.AWS_ENDPOINT_URL_S3 ?? undefined;
  const pathStyleEnv = env.LAKEFORGE_S3_PATH_STYLE;
  const forcePathStyle = opts.forcePathStyle ?? (pathStyleEnv !== undefined ? /^(1|true|yes)$/i.test(pathStyleEnv) : !!endpoint);
  const region = opts.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (endpoint ? 'us-east-1' : undefined);
  return {
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
    forcePathStyle,
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
    // Temporal retries the activity with backoff; the client's own retries stay short so failures surface.
    maxAttempts: 3,
    requestChecksumCalculation: 'WHEN_SUPPORTED',
    responseChecksumValidation: 'WHEN_SUPPORTED',
  };
}

const AUTH_ERRORS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'XAdminUserNotFound', 'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired', 'InvalidClientTokenId']);
const TRANSIENT_ERRORS = new Set(['SlowDown', 'RequestTimeout', 'InternalError', 'ServiceUnavailable', 'RequestTimeTooSkewed', 'TimeoutError', 'ConditionalRequestConflict', 'OperationAborted']);

interface S3Error {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  cause?: { code?: string };
}

const statusOf = (err: unknown) => (err as S3Error)?.$metadata?.httpStatusCode;
const nameOf = (err: unknown) => (err as S3Error)?.name ?? '';

function isNotFound(err: unknown): boolean {
  return ['NoSuchKey', 'NotFound'].includes(nameOf(err)) || (statusOf(err) === 404 && nameOf(err) !== 'NoSuchBucket' && !AUTH_ERRORS.has(nameOf(err)));
}

function isPreconditionFailed(err: unknown): boolean {
  return nameOf(err) === 'PreconditionFailed' || statusOf(err) === 412;
}

/** Network failures, throttling and server errors: a later attempt may succeed. */
export function isS3Transient(err: unknown): boolean {
  const e = err as S3Error;
  const status = statusOf(err);
  if (TRANSIENT_ERRORS.has(nameOf(err)) || e?.$retryable) return true;
  if (status !== undefined) return status === 408 || status === 409 || status === 429 || status >= 500;
  // lib-storage reports a multipart upload cut off by the network as "aborted".
  return isNetworkError(err) || /aborted/i.test(String(e?.message ?? ''));
}

/**
 * A named failure for an S3 error, saying what to fix. The SDK's own message and cause are kept only for network
 * errors: an auth error's details can carry the request's signing material, and credentials never leave the worker.
 */
export function s3Failure(err: unknown, what: string, lakeUri: string, bucket: string): unknown {
  const name = nameOf(err);
  const status = statusOf(err);
  if (name === 'NoSuchBucket') {
    return storageMisconfigured(`S3 bucket "${bucket}" does not exist (${what}, lake ${lakeUri}): create the bucket, or point LAKEFORGE_LAKE at the right one`, { bucket });
  }
  if (AUTH_ERRORS.has(name) || (status === 403 && /signature|credential|access ?key/i.test(String((err as S3Error).message ?? '')))) {
    return storageAccessDenied(
      `S3 rejected the credentials (${name || status}) for ${what}: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the worker's role, and that LAKEFORGE_S3_ENDPOINT is the server those credentials belong to`,
      { bucket, error: name },
    );
  }
  if (name === 'AccessDenied' || name === 'Forbidden' || status === 403) {
    return storageAccessDenied(`S3 denied ${what}: grant this identity s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on ${lakeUri}/*`, { bucket, error: name || '403' });
  }
  if (/region is missing/i.test(String((err as Error)?.message ?? ''))) {
    return storageMisconfigured(`no AWS region for ${lakeUri}: set AWS_REGION (or a region in the AWS profile)`);
  }
  if (name === 'CredentialsProviderError') {
    return storageAccessDenied(`no AWS credentials found for ${lakeUri}: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or run on a machine with a role`);
  }
  if (isS3Transient(err)) return storageUnavailable(`S3 ${what} failed: ${name || status || ''} ${(err as Error)?.message ?? ''}`.trim(), err);
  return err;
}

function s3Fingerprint(h: { ChecksumCRC32C?: string; ChecksumCRC64NVME?: string; ChecksumCRC32?: string; ChecksumSHA256?: string; ChecksumSHA1?: string; ETag?: string }): string {
  if (h.ChecksumCRC32C) return `crc32c:${h.ChecksumCRC32C}`;
  if (h.ChecksumCRC64NVME) return `crc64nvme:${h.ChecksumCRC64NVME}`;
  if (h.ChecksumSHA256) return `sha256:${h.ChecksumSHA256}`;
  if (h.ChecksumCRC32) return `crc32:${h.ChecksumCRC32}`;
  if (h.ChecksumSHA1) return `sha1:${h.ChecksumSHA1}`;
  // An object written without a checksum (by another tool): its ETag still changes with its content.
  return `etag:${unquote(h.ETag)}`;
}

const unquote = (etag: string | undefined) => (etag ?? '').replace(/^"|"$/g, '');

export class S3Lake extends RemoteLake {
  readonly kind = 's3' as const;
  readonly client: S3Client;
  private readonly partSize: number;

  constructor(rootUri: string, opts: S3Options) {
    // Bucket names as S3 allows them (3-63 lowercase letters, digits, dots and hyphens).
    super(parseBucketUri('s3', rootUri, /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/), opts.stagingDir);
    this.client = new S3Client(s3ClientConfig(opts));
    this.partSize = Math.max(5 * 1024 * 1024, opts.partSize ?? 16 * 1024 * 1024);
  }

  private s3Uri(name: string): string {
    return `s3://${this.bucketName}/${name}`;
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw s3Failure(err, what, this.rootUri, this.bucketName);
    }
  }

  protected async listObjects(namePrefix: string, opts: ListOptions): Promise<RemoteObject[]> {
    const out: RemoteObject[] = [];
    await this.call(`list ${this.s3Uri(namePrefix)}`, async () => {
      for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucketName, Prefix: namePrefix })) {
        for (const o of page.Contents ?? []) {
          out.push({ name: o.Key!, size: Number(o.Size ?? 0), generation: unquote(o.ETag), modifiedMs: o.LastModified?.getTime() });
        }
      }
    });
    if (opts.fingerprints) {
      // S3 lists no checksums: HEAD each object, a few at a time.
      const queue = [...out];
      await Promise.all(Array.from({ length: Math.min(8, queue.length) }, async () => {
        for (let o = queue.shift(); o; o = queue.shift()) {
          const h = await this.headObject(o.name);
          if (h && h.generation === o.generation) o.fingerprint = h.fingerprint;
        }
      }));
    }
    return out;
  }

  protected async listChildren(namePrefix: string): Promise<string[]> {
    const out: string[] = [];
    await this.call(`list ${this.s3Uri(namePrefix)}`, async () => {
      for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucketName, Prefix: namePrefix || undefined, Delimiter: '/' })) {
        for (const p of page.CommonPrefixes ?? []) out.push(p.Prefix!.slice(namePrefix.length).replace(/\/$/, ''));
      }
    });
    return out;
  }

  protected async headObject(name: string): Promise<RemoteObject | null> {
    try {
      const h = await this.client.send(new HeadObjectCommand({ Bucket: this.bucketName, Key: name, ChecksumMode: 'ENABLED' }));
      return { name, size: Number(h.ContentLength ?? 0), generation: unquote(h.ETag), fingerprint: s3Fingerprint(h), modifiedMs: h.LastModified?.getTime() };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw s3Failure(err, `stat ${this.s3Uri(name)}`, this.rootUri, this.bucketName);
    }
  }

  protected async getText(name: string): Promise<string | null> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucketName, Key: name }));
      return await r.Body!.transformToString('utf8');
    } catch (err) {
      if (isNotFound(err)) return null;
      throw s3Failure(err, `read ${this.s3Uri(name)}`, this.rootUri, this.bucketName);
    }
  }

  protected async putText(name: string, text: string): Promise<void> {
    await this.call(`write ${this.s3Uri(name)}`, () =>
      this.client.send(new PutObjectCommand({ Bucket: this.bucketName, Key: name, Body: text, ContentType: 'application/json', ChecksumAlgorithm: 'CRC32C' })));
  }

  protected async putTextIfAbsent(name: string, text: string): Promise<boolean> {
    // 409 ConditionalRequestConflict: another conditional write to this key is in flight; the retry then sees 412.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucketName, Key: name, Body: text, ContentType: 'application/json', ChecksumAlgorithm: 'CRC32C', IfNoneMatch: '*' }));
        return true;
      } catch (err) {
        if (isPreconditionFailed(err)) return false;
        if (statusOf(err) === 409 && attempt < 5) {
          await sleep(100 * (attempt + 1));
          continue;
        }
        throw s3Failure(err, `publish ${this.s3Uri(name)}`, this.rootUri, this.bucketName);
      }
    }
  }

  protected async uploadFile(localPath: string, name: string): Promise<void> {
    // One PutObject below partSize, a multipart upload above it; on a failure lib-storage aborts the upload, so no
    // object appears (a multipart upload is invisible until completed) and `lake gc` aborts any the abort missed.
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucketName, Key: name, Body: createReadStream(localPath), ChecksumAlgorithm: 'CRC32C' },
      partSize: this.partSize,
      queueSize: 4,
      leavePartsOnError: false,
    });
    await this.call(`upload ${this.s3Uri(name)}`, () => upload.done());
  }

  protected async downloadGeneration(name: string, generation: string, dest: string): Promise<boolean> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucketName, Key: name, IfMatch: `"${generation}"`, ChecksumMode: 'ENABLED' }));
      await pipeline(r.Body as Readable, createWriteStream(dest));
      return true;
    } catch (err) {
      if (isNotFound(err) || isPreconditionFailed(err)) return false;
      throw s3Failure(err, `download ${this.s3Uri(name)}`, this.rootUri, this.bucketName);
    }
  }

  protected async deleteObject(name: string): Promise<void> {
    await this.call(`delete ${this.s3Uri(name)}`, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucketName, Key: name })));
  }

  protected async deletePrefix(namePrefix: string): Promise<void> {
    const names = (await this.listObjects(namePrefix, {})).map((o) => o.name);
    for (let i = 0; i < names.length; i += 1000) {
      const batch = names.slice(i, i + 1000);
      const r = await this.call(`delete ${this.s3Uri(namePrefix)}`, () =>
        this.client.send(new DeleteObjectsCommand({ Bucket: this.bucketName, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } })));
      if (r.Errors?.length) throw s3Failure(Object.assign(new Error(r.Errors[0].Message ?? 'delete failed'), { name: r.Errors[0].Code }), `delete ${this.s3Uri(r.Errors[0].Key ?? namePrefix)}`, this.rootUri, this.bucketName);
    }
  }

  /** Multipart uploads under the lake that were started and never completed nor aborted (what `lake gc` aborts). */
  async incompleteUploads(): Promise<{ key: string; uploadId: string; initiatedMs: number }[]> {
    const out: { key: string; uploadId: string; initiatedMs: number }[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const r = await this.call(`list uploads in ${this.rootUri}`, () =>
        this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucketName, Prefix: this.prefix ? `${this.prefix}/` : undefined, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker })));
      for (const u of r.Uploads ?? []) out.push({ key: u.Key!, uploadId: u.UploadId!, initiatedMs: u.Initiated?.getTime() ?? 0 });
      if (!r.IsTruncated) return out;
      keyMarker = r.NextKeyMarker;
      uploadIdMarker = r.NextUploadIdMarker;
    }
  }

  async abortUpload(key: string, uploadId: string): Promise<void> {
    await this.call(`abort upload of ${this.s3Uri(key)}`, () => this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucketName, Key: key, UploadId: uploadId })));
  }
}
