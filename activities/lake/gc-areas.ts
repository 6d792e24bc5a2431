// Abandoned work areas inside the lake itself, on any backend (gc.ts handles hidden local directories). On an
// object store an attempt leaves these behind when it dies for good, and nothing else will drop them:
//   - `_work/<kind>/<dataset>/<version>/<workKey>/` partition scratch, `_work/predict/<version>/` scored parts,
//     `_work/rendezvous/<run>/` rendezvous objects (dropped on publish, failure or cancel, unless the process died);
//   - a version directory with data objects and no `_manifest.json`: a publication killed while uploading (readers
//     never see it; a re-run of that version replaces it);
//   - `checkpoints/<run>/<step>/step-<N>/` without `_checkpoint.json`: an upload killed half-way (resume skips it);
//   - on S3, multipart uploads never completed nor aborted (billed storage that no listing shows).
// An area is abandoned only when nothing in it changed for the TTL; published versions, complete checkpoints, raw
// data and anything that does not have these shapes are never candidates.
import { lakeJoin } from './paths.js';
import { CHECKPOINT_MARKER, MANIFEST_FILE, type LakeStorage, type ObjectInfo } from './types.js';
import { DEFAULT_WORK_TTL_MS, type GcEntry, type GcOptions } from './gc.js';
import { S3Lake } from './s3.js';

const VERSION_RE = /^[0-9a-f]{24}$/;
const CHECKPOINT_STEP_RE = /^step-\d+$/;
/** Top-level directories that hold no step publications. */
const NOT_OUTPUTS = new Set(['raw', '_work', 'checkpoints']);

interface Area {
  path: string;
  objects: ObjectInfo[];
}

function groupBy(objects: ObjectInfo[], keyOf: (o: ObjectInfo) => string | null): Area[] {
  const areas = new Map<string, ObjectInfo[]>();
  for (const o of objects) {
    const k = keyOf(o);
    if (k === null) continue;
    const area = areas.get(k);
    if (area) area.push(o);
    else areas.set(k, [o]);
  }
  return [...areas].map(([path, objs]) => ({ path, objects: objs }));
}

/** `_work/` areas at the depth their owner writes them. */
function workAreaOf(o: ObjectInfo): string | null {
  const s = o.path.split('/');
  const depth = s[1] === 'predict' || s[1] === 'rendezvous' ? 3 : 5;
  return s.slice(0, Math.min(depth, s.length - 1)).join('/');
}

/** `<output>/<dataset>/<version>/` for a 24-hex version directory. */
function versionDirOf(o: ObjectInfo): string | null {
  const s = o.path.split('/');
  return s.length >= 4 && VERSION_RE.test(s[2]) ? s.slice(0, 3).join('/') : null;
}

function checkpointDirOf(o: ObjectInfo): string | null {
  const s = o.path.split('/');
  return s.length >= 5 && CHECKPOINT_STEP_RE.test(s[3]) ? s.slice(0, 4).join('/') : null;
}

/** Every abandoned work area in the lake, removed unless dryRun. */
export async function gcLakeAreas(lake: LakeStorage, o: GcOptions = {}): Promise<GcEntry[]> {
  const ttl = o.ttlMs ?? DEFAULT_WORK_TTL_MS;
  const now = o.now ?? Date.now();
  const out: GcEntry[] = [];
  const consider = async (area: Area, why: string) => {
    const newest = Math.max(...area.objects.map((x) => x.modifiedMs ?? now));
    const age = now - newest;
    if (age <= ttl) return;
    out.push({ path: lake.uri(area.path), reason: `${why}, untouched for ${Math.round(age / 60_000)} min (TTL ${Math.round(ttl / 60_000)} min)`, bytes: area.objects.reduce((n, x) => n + x.size, 0) });
    if (!o.dryRun) await lake.removePrefix(area.path);
  };

  const top = await lake.topLevel();
  if (top.includes('_work')) {
    for (const a of groupBy(await lake.list('_work'), workAreaOf)) await consider(a, 'a work area no live attempt is writing');
  }
  for (const dir of top.filter((d) => !NOT_OUTPUTS.has(d) && !d.startsWith('.'))) {
    for (const a of groupBy(await lake.list(dir), versionDirOf)) {
      if (a.objects.some((x) => x.path === lakeJoin(a.path, MANIFEST_FILE))) continue;
      await consider(a, 'a publication that never got its manifest');
    }
  }
  if (top.includes('checkpoints')) {
    for (const a of groupBy(await lake.list('checkpoints'), checkpointDirOf)) {
      if (a.objects.some((x) => x.path === lakeJoin(a.path, CHECKPOINT_MARKER))) continue;
      await consider(a, 'a checkpoint whose upload never finished');
    }
  }
  if (lake instanceof S3Lake) {
    for (const u of await lake.incompleteUploads()) {
      const age = now - u.initiatedMs;
      if (age <= ttl) continue;
      out.push({ path: `s3://${lake.bucketName}/${u.key} (multipart upload ${u.uploadId})`, reason: `an upload never completed, started ${Math.round(age / 60_000)} min ago (TTL ${Math.round(ttl / 60_000)} min)`, bytes: 0 });
      if (!o.dryRun) await lake.abortUpload(u.key, u.uploadId);
    }
  }
  return out;
}
