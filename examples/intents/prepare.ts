// The demo's raw data: the real intents export (export_raw.py, from the home-assistant-intents package) with delivery
// dirt on top (generate-lib.ts dirtyRealTextRows), written into raw/intents/ of the lake.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { LakeStorage } from '../../activities/lake/index.js';
import { dirtyRealTextRows } from '../generate-lib.js';

const EXPORT = fileURLToPath(new URL('./export_raw.py', import.meta.url));

/**
 * perIntent: commands drawn per intent. The demo takes 40, a few-shot set a team labels in an afternoon: where a
 * pretrained encoder earns its keep over TF-IDF (bench/RESULTS.md has the search, full-data figures included).
 */
export async function prepareIntentsLake(o: { lake: LakeStorage; python: string; seed?: number; perIntent?: number }): Promise<{ exported: number; written: number; labels: string[] }> {
  const tmp = await mkdtemp(join(tmpdir(), 'lakeforge-intents-'));
  try {
    const local = join(tmp, 'intents.parquet');
    // Its own process group, killed with this process (execa's cleanup); an argument array, no shell.
    const r = await execa(o.python, [EXPORT, '--out', local, '--seed', String(o.seed ?? 42), '--per-intent', String(o.perIntent ?? 40)], { env: { PYTHONNOUSERSITE: '1' }, detached: true, cleanup: true });
    const exported = JSON.parse(r.stdout) as { rows: number; labels: string[] };
    const { rows } = await dirtyRealTextRows({ lake: o.lake, dataset: 'intents', source: local, seed: o.seed });
    return { exported: exported.rows, written: rows, labels: exported.labels };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
