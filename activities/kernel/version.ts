// Step versions (docs/design.md#versions): one hash function and one length for every kind, built-in or a user's.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ObjectInfo } from '../lake/index.js';

/** Hex digits of every step version. */
export const VERSION_LENGTH = 24;

/** Sorted-key JSON, so equal values hash equally whatever order their keys were written in. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

export function sha256Hex(s: string | Uint8Array): string {
  return createHash('sha256').update(s).digest('hex');
}

/**
 * version = hash(input versions, parameters, the kind's code: its declared code version plus the text of its SQL or
 * a hash of its sources). The same inputs give the same version, and so a cache hit.
 */
export function stepVersion(fields: { step: string; codeVersion: string; inputs: string[]; params: unknown; sql: Record<string, string> }): string {
  return sha256Hex(canonicalJson(fields)).slice(0, VERSION_LENGTH);
}

/** The version of raw input: every object's path, size and generation (a rewritten file changes it). */
export function rawInputVersion(objects: ObjectInfo[]): string {
  return `raw-${sha256Hex(canonicalJson(objects.map((o) => [o.path, o.size, o.generation]))).slice(0, VERSION_LENGTH)}`;
}

/** A short stable key for local scratch directories (not a version: nothing is published under it). */
export function localKey(...values: unknown[]): string {
  return sha256Hex(canonicalJson(values)).slice(0, 16);
}

const sourceHashes = new Map<string, Promise<string>>();
/**
 * A hash of the source files under `dir` whose names match `include` (sorted walk; hidden entries and __pycache__
 * skipped), cached per process. Steps whose code is not SQL (the trainer) version on this.
 */
export function sourceHash(dir: string, include: RegExp): Promise<string> {
  const key = `${dir}\0${include.source}`;
  let p = sourceHashes.get(key);
  if (!p) {
    p = (async () => {
      const h = createHash('sha256');
      const walk = async (d: string, rel: string) => {
        const entries = (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
        for (const e of entries) {
          if (e.name === '__pycache__' || e.name.startsWith('.')) continue;
          if (e.isDirectory()) await walk(join(d, e.name), `${rel}${e.name}/`);
          else if (include.test(e.name)) h.update(`${rel}${e.name}\0`).update(await readFile(join(d, e.name))).update('\0');
        }
      };
      await walk(dir, '');
      return h.digest('hex').slice(0, 12);
    })();
    p.catch(() => sourceHashes.delete(key));
    sourceHashes.set(key, p);
  }
  return p;
}
