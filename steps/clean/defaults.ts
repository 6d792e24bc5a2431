import type { Manifest } from '../../activities/lake/index.js';

/** What a features step takes from the clean data it reads: the key and the declared label set. */
export interface CleanDefaults {
  key?: string[];
  labels?: { column: string; values: string[] };
}

/**
 * The clean defaults of a published ETL output: a clean step's own parameters, or what a sql step carried through
 * from its input (`cleanDefaults` in its manifest: only what its output still has the columns for).
 */
export function cleanDefaultsOf(manifest: Manifest): CleanDefaults {
  const carried = (manifest as { cleanDefaults?: CleanDefaults }).cleanDefaults;
  if (carried) return carried;
  if (manifest.step !== 'clean') return {};
  const p = (manifest.params ?? {}) as CleanDefaults;
  return { ...(p.key ? { key: p.key } : {}), ...(p.labels ? { labels: p.labels } : {}) };
}

