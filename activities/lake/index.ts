import { join } from 'node:path';
import { badInput } from '../../contracts/failures.js';
import { lakeforgeHome } from '../common/config.js';
import { LocalLake } from './local.js';
import { GcsLake } from './gcs.js';
import { S3Lake, type S3Options } from './s3.js';
import type { LakeStorage } from './types.js';

export * from './types.js';
export * from './paths.js';
export * from './manifest.js';
export { LocalLake } from './local.js';
export { GcsLake, isTransient } from './gcs.js';
export { S3Lake, s3ClientConfig, type S3Options } from './s3.js';
export { RemoteLake } from './remote.js';

export interface OpenLakeOptions {
  /** LAKEFORGE_HOME; the staging cache lives under it. */
  home?: string;
  /** GCS endpoint override (an emulator); LAKEFORGE_GCS_ENDPOINT otherwise. */
  gcsApiEndpoint?: string;
  gcsProjectId?: string;
  /** S3 client settings (endpoint, region, path style, credentials); the environment's otherwise (s3.ts). */
  s3?: Omit<S3Options, 'stagingDir'>;
}

/** Opens the lake at a root URI: `file:///abs/dir`, `gs://bucket/prefix` or `s3://bucket/prefix`. */
export function openLake(rootUri: string, opts: OpenLakeOptions = {}): LakeStorage {
  if (rootUri.startsWith('file://')) return new LocalLake(rootUri);
  if (rootUri.startsWith('gs://')) {
    return new GcsLake(rootUri, {
      apiEndpoint: opts.gcsApiEndpoint,
      projectId: opts.gcsProjectId,
      stagingDir: join(opts.home ?? lakeforgeHome(), 'staging'),
    });
  }
  if (rootUri.startsWith('s3://')) return new S3Lake(rootUri, { ...opts.s3, stagingDir: join(opts.home ?? lakeforgeHome(), 'staging') });
  throw badInput(`lake ${JSON.stringify(rootUri)} must be a file://, gs:// or s3:// URI`);
}
