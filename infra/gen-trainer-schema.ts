/**
 * Writes the trainer's JSON Schemas from the zod schemas in contracts/trainer-protocol.ts:
 *   npx tsx infra/gen-trainer-schema.ts          (write)
 *   npx tsx infra/gen-trainer-schema.ts --check  (exit 1 if the committed files are stale)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trainerJsonSchemas } from '../contracts/json-schemas.js';

const SCHEMA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'trainer', 'lakeforge_trainer', 'schema');

export function renderTrainerSchemas(): Record<string, string> {
  const { run, event, stepConfig, stepEvent } = trainerJsonSchemas();
  return {
    'step-config.schema.json': JSON.stringify({ title: 'lakeforge python step step.json', ...stepConfig }, null, 2) + '\n',
    'step-event.schema.json': JSON.stringify({ title: 'lakeforge python step stdout event', ...stepEvent }, null, 2) + '\n',
    'run.schema.json': JSON.stringify({ title: 'lakeforge trainer run.json', ...run }, null, 2) + '\n',
    'event.schema.json': JSON.stringify({ title: 'lakeforge trainer stdout event', ...event }, null, 2) + '\n',
  };
}

export const TRAINER_SCHEMA_DIR = SCHEMA_DIR;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  let stale = false;
  for (const [name, text] of Object.entries(renderTrainerSchemas())) {
    const path = resolve(SCHEMA_DIR, name);
    if (check) {
      let current = '';
      try { current = readFileSync(path, 'utf8'); } catch { /* missing counts as stale */ }
      if (current !== text) { console.error(`stale: ${path}`); stale = true; }
    } else {
      writeFileSync(path, text);
      console.log(`wrote ${path}`);
    }
  }
  if (stale) process.exit(1);
}
