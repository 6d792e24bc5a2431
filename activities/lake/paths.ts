import { badInput, invalidPipeline } from '../../contracts/failures.js';

/**
 * Confines a lake-relative path: the result is a normalised `a/b/c` with no empty, `.` or `..` segment.
 * Anything that could be read as absolute, as a URL, or decoded into something else is refused with BadInput,
 * so a configured dataset name or a manifest entry can never reach outside the lake root.
 */
export function confinePath(rel: string, what = 'path'): string {
  if (typeof rel !== 'string' || rel.length === 0) throw badInput(`${what} is empty`);
  if (rel.length > 1024) throw badInput(`${what} is too long`);
  const parts = checkSegments(rel, what, rel);
  // `:` and `%` are ordinary in real lakes (`dt=2024-01-01T00:00:00`, Spark's `%3A` escapes in hive partition
  // values) and lake URIs escape `%`, so nothing here decodes them; a path that would escape if something did
  // decode it (`x%2f..%2f..`) is still refused.
  let decoded = rel;
  for (let i = 0; i < 3 && decoded.includes('%'); i++) {
    const next = safeDecode(decoded);
    if (next === decoded) break;
    checkSegments(next, what, rel);
    decoded = next;
  }
  return parts.join('/');
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a lone `%` is a literal character
  }
}

function checkSegments(rel: string, what: string, original: string): string[] {
  const shown = JSON.stringify(original);
  // Control characters, backslashes (Windows separators), query and fragment.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\?#]/.test(rel)) throw badInput(`${what} ${shown} contains a forbidden character`);
  // A URL scheme or drive letter (`gs:`, `file:`, `C:`) at the start could be read as absolute.
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(rel)) throw badInput(`${what} ${shown} looks like a URL or drive, not a lake-relative path`);
  if (rel.startsWith('/') || rel.startsWith('~')) throw badInput(`${what} ${shown} is absolute; lake paths are relative to the lake root`);
  const parts = rel.split('/');
  // A trailing slash is tolerated (a "directory"); any other empty segment is not.
  if (parts[parts.length - 1] === '') parts.pop();
  for (const p of parts) {
    if (p === '' || p === '.' || p === '..') throw badInput(`${what} ${shown} escapes or is not confined to the lake root`);
    if (p.trim() !== p) throw badInput(`${what} ${shown} has a segment with surrounding whitespace`);
  }
  return parts;
}

/** Joins lake-relative segments, confining the result. */
export function lakeJoin(...segments: string[]): string {
  return confinePath(segments.filter((s) => s !== '').join('/'));
}

/** A dataset name is a single confined segment. */
export function datasetName(name: string): string {
  const p = confinePath(name, 'dataset');
  if (p.includes('/') || p.startsWith('.')) throw badInput(`dataset ${JSON.stringify(name)} must be a single path segment not starting with "."`);
  return p;
}

/** A model name is one lake path segment. */
export function modelName(name: string): string {
  const p = lakeJoin(name);
  if (p.includes('/') || p.startsWith('.')) throw invalidPipeline(`model ${JSON.stringify(name)} must be a single path segment not starting with "."`);
  return p;
}
