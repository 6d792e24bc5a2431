// What a cache hit checks about each published file besides its size (docs/design.md#fingerprints-and-cache-hits):
// the storage's own change marker, recorded in the manifest at publish time. On a local lake that is
// mtime (ns) + inode + size, so any rewrite in place (new mtime) or replacement (new inode) is caught even at equal
// size; on GCS it is the object's CRC32C from its metadata (free with the listing): other bytes change it, while a
// concurrent publisher's identical upload of the same version does not. Content hashes (sha256 in the manifest)
// are not re-read on a cache hit: that would cost a full read of every output.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from './manifest.js';

export function localGeneration(st: { mtimeNs: bigint; ino: bigint; size: bigint }): string {
  return `${st.mtimeNs}-${st.ino}-${st.size}`;
}

/** The manifest with each file's generation, read from the files in `workDir` (local: unchanged by the rename). */
export async function withLocalGenerations(manifest: Manifest, workDir: string): Promise<Manifest> {
  const files = await Promise.all(manifest.files.map(async (f) => ({ ...f, generation: localGeneration(await stat(join(workDir, ...f.path.split('/')), { bigint: true })) })));
  return { ...manifest, files };
}

/** The manifest with each file's generation as the storage reports it after upload. */
export function withGenerations(manifest: Manifest, generationOf: (path: string) => string | undefined): Manifest {
  return { ...manifest, files: manifest.files.map((f) => ({ ...f, generation: generationOf(f.path) })) };
}
