// What train and evaluate read from a features publication's manifest: its task and its label names.
import type { Manifest } from '../lake/index.js';
import type { Task } from '../../contracts/trainer-protocol.js';

/** `text-classification` is the features step's synonym of the trainer's `sequence-classification`. */
export function normalizeTask(t: unknown): Task | undefined {
  if (t === 'sequence-classification' || t === 'text-classification') return 'sequence-classification';
  if (t === 'token-classification') return 'token-classification';
  return undefined;
}

/** The task a features publication was made for: its manifest's `task`, `params.task`, or its columns. */
export function featuresTask(m: Manifest): Task | undefined {
  const rec = m as Record<string, unknown>;
  const params = (m.params ?? {}) as Record<string, unknown>;
  const t = normalizeTask(rec.task) ?? normalizeTask(params.task);
  if (t) return t;
  const cols = new Set(m.schema.map((c) => c.name));
  if (cols.has('tokens') && cols.has('tags')) return 'token-classification';
  if (cols.has('text') && cols.has('label')) return 'sequence-classification';
  return undefined;
}

/**
 * Label names in id order from a features manifest: `labels` / `labelMap` / `label_map` as a list of names, a
 * `{name: id}` map, or an `{id: name}` map.
 */
export function featuresLabels(m: Manifest): string[] | undefined {
  const rec = m as Record<string, unknown>;
  for (const key of ['labels', 'labelMap', 'label_map', 'labelSet', 'tags']) {
    const v = rec[key];
    const names = labelsFrom(v);
    if (names) return names;
  }
  return undefined;
}

function labelsFrom(v: unknown): string[] | undefined {
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return v as string[];
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (o.labels !== undefined) return labelsFrom(o.labels);
    if (o.label2id !== undefined) return labelsFrom(o.label2id);
    const entries = Object.entries(o);
    if (entries.length === 0) return undefined;
    if (entries.every(([, id]) => typeof id === 'number')) {
      return entries.sort((a, b) => (a[1] as number) - (b[1] as number)).map(([name]) => name);
    }
    if (entries.every(([k, name]) => /^\d+$/.test(k) && typeof name === 'string')) {
      return entries.sort((a, b) => Number(a[0]) - Number(b[0])).map(([, name]) => name as string);
    }
  }
  return undefined;
}

