// Usage: npx tsx examples/generate-text.ts [--rows N] [--seed S] [--files F] [--dataset NAME] [--lake URI]
// Writes a dirty text-classification dataset into <lake>/raw/<dataset>/ (default: news, LAKEFORGE_LAKE).
import { parseArgs } from 'node:util';
import { loadConfig } from '../activities/common/config.js';
import { openLake } from '../activities/lake/index.js';
import { generateTextClassification } from './generate-lib.js';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '100000' }, seed: { type: 'string', default: '42' }, files: { type: 'string' }, dataset: { type: 'string', default: 'news' }, lake: { type: 'string' } },
});
const cfg = loadConfig();
const lake = openLake(values.lake ?? cfg.lake, { home: cfg.home });
const r = await generateTextClassification({ lake, dataset: values.dataset!, rows: Number(values.rows), seed: Number(values.seed), files: values.files ? Number(values.files) : undefined });
console.log(JSON.stringify({ lake: lake.rootUri, dataset: values.dataset, ...r }));
