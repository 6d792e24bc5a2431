import { z } from 'zod';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { LAKEFORGE_VERSION } from '../common/config.js';
import type { LakeStorage, ObjectInfo } from './types.js';
import { MANIFEST_FILE } from './types.js';
import { lakeJoin } from './paths.js';

/** `_manifest.json` (docs/design.md#manifests). Steps add their own fields (conservation, labelMap, splits, …). */
export const ManifestFileSchema = z.object({
  path: z.string(),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The storage's change marker at publish time (fingerprint.ts); absent in manifests written before it existed. */
  generation: z.string().optional(),
});
export type ManifestFile = z.infer<typeof ManifestFileSchema>;

export const ManifestSchema = z
  .object({
    version: z.string(),
    step: z.string(),
    inputs: z.array(z.string()),
    params: z.unknown(),
    rows: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
    files: z.array(ManifestFileSchema),
    schema: z.array(z.object({ name: z.string(), type: z.string() })),
    createdAt: z.string(),
    lakeforgeVersion: z.string(),
  })
  .passthrough();
export type Manifest = z.infer<typeof ManifestSchema>;

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** Every regular file under `dir`, as sorted `/`-separated relative paths; hidden entries are skipped. */
export async function listLocalFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string) {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name.startsWith('.') || e.name === MANIFEST_FILE) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push(relative(dir, p).split(sep).join('/'));
    }
  }
  await walk(dir);
  return out.sort();
}

/** Describes the data files of a work directory: size and sha256 here, row counts from the caller (DuckDB). */
export async function describeFiles(workDir: string, rowsOf: (absPath: string) => Promise<number>): Promise<ManifestFile[]> {
  const files: ManifestFile[] = [];
  for (const rel of await listLocalFiles(workDir)) {
    const abs = join(workDir, ...rel.split('/'));
    const [st, sha256, rows] = await Promise.all([stat(abs), sha256File(abs), rowsOf(abs)]);
    files.push({ path: rel, rows, bytes: st.size, sha256 });
  }
  return files;
}

export function buildManifest(fields: {
  version: string;
  step: string;
  inputs: string[];
  params: unknown;
  files: ManifestFile[];
  schema: { name: string; type: string }[];
  extra?: Record<string, unknown>;
}): Manifest {
  return {
    version: fields.version,
    step: fields.step,
    inputs: fields.inputs,
    params: fields.params,
    rows: fields.files.reduce((s, f) => s + f.rows, 0),
    bytes: fields.files.reduce((s, f) => s + f.bytes, 0),
    files: fields.files,
    schema: fields.schema,
    createdAt: new Date().toISOString(),
    lakeforgeVersion: LAKEFORGE_VERSION,
    ...fields.extra,
  };
}

/** Reads a published manifest; null when there is none (the directory does not exist for readers). */
export async function readManifest(lake: LakeStorage, dirRel: string): Promise<Manifest | null> {
  const text = await lake.readText(lakeJoin(dirRel, MANIFEST_FILE));
  if (text === null) return null;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null; // a torn or foreign file is no publication
  }
  const parsed = ManifestSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

export type VerifyResult = { ok: true; manifest: Manifest; /** The listed objects, in manifest order. */ objects: ObjectInfo[] } | { ok: false; reason: string; manifest: Manifest | null };

/**
 * A publication is usable when its manifest parses, has the expected version, and every file it lists is there
 * with its recorded size and generation (fingerprint.ts). (Not hashes: a cache check must stay cheap on a remote lake.)
 */
export async function verifyPublished(lake: LakeStorage, dirRel: string, expectedVersion?: string): Promise<VerifyResult> {
  const manifest = await readManifest(lake, dirRel);
  if (!manifest) return { ok: false, reason: 'no manifest', manifest: null };
  if (expectedVersion !== undefined && manifest.version !== expectedVersion) {
    return { ok: false, reason: `manifest version ${manifest.version} is not ${expectedVersion}`, manifest };
  }
  const present = new Map((await lake.list(dirRel, { fingerprints: true })).map((o) => [o.path, o]));
  const objects: ObjectInfo[] = [];
  for (const f of manifest.files) {
    const o = present.get(lakeJoin(dirRel, f.path));
    if (!o) return { ok: false, reason: `file ${f.path} is missing`, manifest };
    if (o.size !== f.bytes) return { ok: false, reason: `file ${f.path} has ${o.size} bytes, manifest says ${f.bytes}`, manifest };
    if (f.generation && (o.fingerprint ?? o.generation) !== f.generation) return { ok: false, reason: `file ${f.path} was rewritten after it was published`, manifest };
    objects.push(o);
  }
  return { ok: true, manifest, objects };
}
