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
import { FeaturesParamsSchema, SqlParamsSchema } from '../activities/steps/clean/params.js';
import { EvaluateParamsSchema, PromoteParamsSchema, TrainParamsSchema } from '../activities/steps/train/params.js';

export const PIPELINE_SCHEMA_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'pipelines', 'pipeline.schema.json');

export function renderPipelineSchema(): string {
  const [clean, features, train, evaluate, promote, sql] = StepSpecSchema.options;
  const steps = z.discriminatedUnion('uses', [
    clean,
    features.extend({ with: FeaturesParamsSchema }),
    train.extend({ with: TrainParamsSchema }),
    evaluate.extend({ with: EvaluateParamsSchema.optional() }),
    promote.extend({ with: PromoteParamsSchema }),
    sql.extend({ with: SqlParamsSchema }),
  ]);
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
