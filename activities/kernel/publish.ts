// The kernel's last phases: the cache check, describing and checking what a step wrote, publishing manifest-last,
// and the StepResult. One rule for a concurrent publisher of the same version: its publication is the result, and
// `cached` is false, since this attempt did compute it (`cached: true` means only "served without computing").
import { invariantViolated } from '../../contracts/failures.js';
import type { StepResult } from '../../contracts/step-result.js';
import { buildManifest, describeFiles, lakeJoin, MANIFEST_FILE, verifyPublished, type LakeStorage, type Manifest, type ManifestFile } from '../lake/index.js';
import type { StepControl } from './context.js';

/** The StepResult of a publication: its manifest's version, rows and numeric metrics. */
export function resultOf(lake: LakeStorage, rel: string, manifest: Manifest | { step: string; version: string; rows: number; metrics?: unknown }, cached: boolean): StepResult {
  const metrics = numericMetrics((manifest as { metrics?: unknown }).metrics);
  return {
    step: manifest.step,
    version: manifest.version,
    uri: lake.uri(rel),
    cached,
    rows: manifest.rows,
    ...(metrics ? { metrics } : {}),
    manifest: lake.uri(lakeJoin(rel, MANIFEST_FILE)),
  };
}

function numericMetrics(m: unknown): Record<string, number> | undefined {
  if (!m || typeof m !== 'object') return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  return Object.keys(out).length ? out : undefined;
}

/**
 * The cache check: a hit only when every output of this version is completely published (manifest, and every file
 * it lists present with its size). Returns the primary (last) output's result.
 */
export async function cachedResult(lake: LakeStorage, version: string, rels: string[]): Promise<StepResult | null> {
  const checks = await Promise.all(rels.map((rel) => verifyPublished(lake, rel, version)));
  if (!checks.every((c) => c.ok)) return null;
  const last = rels.length - 1;
  return resultOf(lake, rels[last], checks[last].manifest!, true);
}

/** Describes a work directory's files (size, sha256, rows from `rowsOf`), checking the rows the step says it wrote. */
export async function describeOutput(workDir: string, rowsOf: (abs: string) => Promise<number>, expectRows?: { rows: number; what: string }): Promise<ManifestFile[]> {
  const files = await describeFiles(workDir, rowsOf);
  if (expectRows) {
    const written = files.reduce((s, f) => s + f.rows, 0);
    if (written !== expectRows.rows) throw invariantViolated(`${expectRows.what}: computed ${expectRows.rows} rows, the files hold ${written}`);
  }
  return files;
}

export interface Output {
  workDir: string;
  rel: string;
  manifest: Manifest;
}

/**
 * Publishes outputs in order, each manifest last; the LAST is the primary one whose result is returned (so when its
 * manifest exists, every output before it is already complete). When a concurrent run published the same version
 * first, theirs is the result (identical content, by the version) and `cached` stays false.
 */
export async function publishOutputs(lake: LakeStorage, control: StepControl, outputs: Output[]): Promise<StepResult> {
  control.heartbeat({ stage: 'publish' });
  let outcome: 'published' | 'already-published' = 'published';
  for (const o of outputs) outcome = await lake.publish(o.workDir, o.rel, o.manifest);
  const primary = outputs[outputs.length - 1];
  if (outcome === 'already-published') {
    const theirs = await verifyPublished(lake, primary.rel, primary.manifest.version);
    if (theirs.ok) return resultOf(lake, primary.rel, theirs.manifest, false);
  }
  return resultOf(lake, primary.rel, primary.manifest, false);
}

/** Runs `fn` with fresh work directories for `rels`; on any failure they are dropped (never half-published). */
export async function withWorkDirs<T>(lake: LakeStorage, rels: string[], fn: (dirs: string[]) => Promise<T>): Promise<T> {
  const dirs: string[] = [];
  try {
    for (const rel of rels) dirs.push(await lake.createWorkDir(rel));
    return await fn(dirs);
  } catch (err) {
    // publish() moved the ones it published; discarding a missing directory is a no-op.
    await Promise.all(dirs.map((d) => lake.discardWorkDir(d).catch(() => {})));
    throw err;
  }
}

export { buildManifest };
