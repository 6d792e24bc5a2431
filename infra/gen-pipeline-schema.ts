/**
 * Writes examples/pipelines/pipeline.schema.json, the JSON Schema of pipeline YAML files for editor completion
 * (e.g. `# yaml-language-server: $schema=./pipeline.schema.json`). Step parameters are typed per step kind.
 *   npx tsx infra/gen-pipeline-schema.ts [--check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { PipelineSpecSchema, StepSpecSchema } from '../contracts/spec.js';
import { REGISTRY } from '../steps/registry.js';

export const PIPELINE_SCHEMA_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'pipelines', 'pipeline.schema.json');

export function renderPipelineSchema(): string {
  // Each kind's `with:` from the registry; clean's stays open, since the dataset declaration fills its defaults.
  const options = StepSpecSchema.options.map((o) => {
    const def = REGISTRY[o.shape.uses.value];
    if (def.defaults) return o;
    return o.extend({ with: def.params.safeParse({}).success ? def.params.optional() : def.params });
  });
  const steps = z.discriminatedUnion('uses', options as unknown as [typeof options[number], ...typeof options[number][]]);
  const editor = PipelineSpecSchema.extend({ steps: z.array(steps).min(1) });
  const schema = z.toJSONSchema(editor, { io: 'input', unrepresentable: 'any' });
  return JSON.stringify({ title: 'lakeforge pipeline', ...schema }, null, 2) + '\n';
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = renderPipelineSchema();
  if (process.argv.includes('--check')) {
    if (readFileSync(PIPELINE_SCHEMA_PATH, 'utf8') !== text) { console.error(`stale: ${PIPELINE_SCHEMA_PATH}`); process.exit(1); }
  } else {
    writeFileSync(PIPELINE_SCHEMA_PATH, text);
    console.log(`wrote ${PIPELINE_SCHEMA_PATH}`);
  }
}
