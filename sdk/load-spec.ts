// Reads a pipeline spec from YAML (or JSON) and validates it, mapping each error to its line in the file.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isMap, isSeq, type Node } from 'yaml';
import { formatPath, validatePipeline, type PipelinePlan, type SpecError } from '../workflows/spec/validate.js';
import { projectKinds, type LoadedProject } from '../steps/user/define.js';
import { lookupSqlFile } from '../steps/sql/file.js';

export interface LocatedSpecError extends SpecError {
  line?: number;
  column?: number;
}

export class InvalidPipelineError extends Error {
  override readonly name = 'InvalidPipeline';
  constructor(readonly file: string, readonly errors: LocatedSpecError[]) {
    super(`${file}: invalid pipeline\n${errors.map((e) => `  ${file}${e.line ? `:${e.line}:${e.column}` : ''} ${formatPath(e.path) || '(root)'}: ${e.message}`).join('\n')}`);
  }
}

/** The deepest node of the YAML document along `path`, for a line number. */
function nodeAt(doc: ReturnType<typeof parseDocument>, path: (string | number)[]): Node | undefined {
  let node = doc.contents as Node | null;
  let found: Node | undefined = node ?? undefined;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown })?.value === key);
      if (!pair) break;
      found = (pair.value as Node | null) ?? (pair.key as Node);
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key] as Node | null;
      if (!node) break;
      found = node;
    } else break;
  }
  return found;
}

/**
 * Every `uses: sql` step's file must exist under the repository's sql/ directory. That takes file I/O, so it is
 * checked here and by the SDK before a run starts (and again by the activity), not by the pure validator.
 */
export function sqlFileErrors(plan: PipelinePlan, root?: string): SpecError[] {
  return plan.steps.flatMap((s) => {
    if (s.kind !== 'sql') return [];
    const r = lookupSqlFile(String(s.params.file), root);
    return r.ok ? [] : [{ path: ['steps', plan.spec.steps.indexOf(s.spec), 'with', 'file'], message: r.message }];
  });
}

export function parsePipelineText(text: string, file = '<spec>', project?: LoadedProject): PipelinePlan {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  if (doc.errors.length) {
    throw new InvalidPipelineError(file, doc.errors.map((e) => ({
      path: [], message: e.message.split('\n')[0], line: e.linePos?.[0].line, column: e.linePos?.[0].col,
    })));
  }
  const raw = doc.toJS();
  const result = validatePipeline(raw, Array.isArray(raw?.steps) ? projectKinds(raw, project) : {});
  const errors = result.ok ? sqlFileErrors(result.plan, project?.root) : result.errors;
  if (result.ok && errors.length === 0) return result.plan;
  throw new InvalidPipelineError(file, errors.map((e) => {
    const node = nodeAt(doc, e.path);
    const pos = node?.range ? lineCounter.linePos(node.range[0]) : undefined;
    return { ...e, line: pos?.line, column: pos?.col };
  }));
}

export function loadPipelineFile(file: string, project?: LoadedProject): PipelinePlan {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidPipelineError(file, [{ path: [], message: `cannot read the file: ${(err as Error).message}` }]);
  }
  return parsePipelineText(text, file, project);
}
