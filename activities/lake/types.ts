import type { Manifest } from './manifest.js';

/** One object (file) in the lake, by lake-relative path. `generation` changes whenever the content may have. */
export interface ObjectInfo {
  path: string;
  size: number;
  generation: string;
  /**
   * What a cache hit compares with the manifest (fingerprint.ts): local mtime+inode+size, or GCS's CRC32C of the
   * content (a concurrent publisher's identical upload keeps it; other bytes change it). Defaults to `generation`.
   */
  fingerprint?: string;
  /** Last modification time (ms since the epoch), where the listing reports it: what `lake gc` ages remote work by. */
  modifiedMs?: number;
}

export interface ListOptions {
  /**
   * Fill `fingerprint` for every object even where the store's listing does not carry it (S3 lists no checksums:
   * one HEAD per object). Publication checks ask for it; plain listings of raw data do not.
   */
  fingerprints?: boolean;
}

export type PublishOutcome = 'published' | 'already-published';

/**
 * One interface over `file://`, `gs://` and `s3://` lakes. Paths are lake-relative and confined (see paths.ts).
 * Steps compute into a local work directory and then publish it: data files first, `_manifest.json` last.
 */
export interface LakeStorage {
  readonly kind: 'file' | 'gs' | 's3';
  readonly rootUri: string;
  /** The URI of a lake-relative path. */
  uri(rel: string): string;
  /** The lake-relative path of a URI inside this lake; BadInput when it lies outside. */
  relative(uri: string): string;
  /** Every object under a directory prefix, recursively, sorted by path. */
  list(prefix: string, opts?: ListOptions): Promise<ObjectInfo[]>;
  stat(rel: string): Promise<ObjectInfo | null>;
  /** The names of the lake root's top-level directories (`raw`, `clean`, `_work`, …), sorted. */
  topLevel(): Promise<string[]>;
  readText(rel: string): Promise<string | null>;
  writeText(rel: string, text: string): Promise<void>;
  /** Uploads (or copies) a local file to a lake path. */
  putFile(localPath: string, rel: string): Promise<void>;
  /** Removes one object (missing is fine). */
  removeObject(rel: string): Promise<void>;
  /** Removes every object under a prefix. */
  removePrefix(prefix: string): Promise<void>;
  /**
   * A local path from which DuckDB can read the object: the file itself on a local lake, a copy in the staging
   * cache keyed by object generation on GCS (an unchanged object is fetched once, a changed one again).
   */
  stage(obj: ObjectInfo): Promise<string>;
  /**
   * Places an object at a local path for a work directory: a hard link on a local lake (same filesystem, no copy;
   * a copy across filesystems), a copy of the staged download on GCS.
   */
  copyToLocal(obj: ObjectInfo, dest: string): Promise<void>;
  /** A fresh, unique local directory to compute an output for `destRel` into (a hidden sibling on a local lake). */
  createWorkDir(destRel: string): Promise<string>;
  /** Drops a work directory that will not be published. */
  discardWorkDir(workDir: string): Promise<void>;
  /**
   * Publishes a work directory at `destRel` with `manifest` written last. When a complete publication of the same
   * version is already there (a concurrent run won), ours is discarded and 'already-published' returned.
   */
  publish(workDir: string, destRel: string, manifest: Manifest): Promise<PublishOutcome>;
}

export const MANIFEST_FILE = '_manifest.json';
/** Uploaded last into a checkpoint directory (steps/train/checkpoints.ts): without it the checkpoint is incomplete. */
export const CHECKPOINT_MARKER = '_checkpoint.json';
