// `lakeforge lake gc`: removes abandoned work: killed attempts' `.tmp-…` siblings, leftover trash and temp files
// (local lake, this machine's staging area) and the lake's own abandoned work areas on every backend (gc-areas.ts:
// `_work/` scratch, publications without a manifest, unfinished checkpoints, S3 multipart uploads); never a
// published version.
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../../activities/common/config.js';
import { openLake, LocalLake } from '../../activities/lake/index.js';
import { gcTree, DEFAULT_WORK_TTL_MS, type GcEntry } from '../../activities/lake/gc.js';
import { gcLakeAreas } from '../../activities/lake/gc-areas.js';
import { usageError } from './errors.js';

export async function lakeGcCommand(o: { lake?: string; olderThan?: string; dryRun?: boolean; json?: boolean }): Promise<number> {
  const cfg = loadConfig();
  const hours = o.olderThan === undefined ? DEFAULT_WORK_TTL_MS / 3600_000 : Number(o.olderThan);
  if (!Number.isFinite(hours) || hours < 0) throw usageError(`--older-than must be a number of hours, got ${JSON.stringify(o.olderThan)}`);
  const uri = o.lake === undefined ? cfg.lake : /^(file|gs|s3):\/\//.test(o.lake) ? o.lake : pathToFileURL(resolve(o.lake)).href;
  const lake = openLake(uri, { home: cfg.home });
  const opts = { ttlMs: hours * 3600_000, dryRun: !!o.dryRun };
  const found: GcEntry[] = [];
  // Hidden work directories exist on a local lake only (object-store outputs are computed in the staging area).
  if (lake instanceof LocalLake) found.push(...(await gcTree(lake.rootDir, opts)));
  found.push(...(await gcLakeAreas(lake, opts)));
  found.push(...(await gcTree(join(cfg.home, 'staging', 'work'), opts)));
  if (o.json) {
    console.log(JSON.stringify({ lake: lake.rootUri, dryRun: !!o.dryRun, removed: found }, null, 2));
    return 0;
  }
  for (const e of found) console.log(`${o.dryRun ? 'would remove' : 'removed'} ${e.path} (${(e.bytes / 1e6).toFixed(1)} MB): ${e.reason}`);
  const mb = (found.reduce((s, e) => s + e.bytes, 0) / 1e6).toFixed(1);
  console.log(`${found.length} abandoned work entr${found.length === 1 ? 'y' : 'ies'} (${mb} MB) ${o.dryRun ? 'found' : 'removed'} in ${lake.rootUri}`);
  return 0;
}
