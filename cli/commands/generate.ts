// generate <dataset>: a deterministic dirty sample dataset (examples/generate-lib.ts) into the lake's raw/<dataset>/,
// so a new project has data to run its example pipeline on. Skips a dataset that is already there.
import { loadConfig } from '../../activities/common/config.js';
import { openLake } from '../../activities/lake/index.js';
import { generateNer, generateTextClassification } from '../../examples/generate-lib.js';
import { useProject } from '../../sdk/project.js';
import { EXIT_OK, lakeOption, usageError } from './common.js';

const print = (s = '') => process.stdout.write(`${s}\n`);

export async function generateCommand(dataset: string, opts: { rows: string; seed: string; task: string; lake?: string; force?: boolean }): Promise<number> {
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(dataset)) throw usageError(`dataset name: use lowercase letters, digits, "-" and "_", got ${JSON.stringify(dataset)}`);
  const rows = Number(opts.rows);
  const seed = Number(opts.seed);
  if (!Number.isInteger(rows) || rows < 10) throw usageError(`--rows must be an integer of at least 10, got ${JSON.stringify(opts.rows)}`);
  if (!Number.isInteger(seed)) throw usageError(`--seed must be an integer, got ${JSON.stringify(opts.seed)}`);
  if (opts.task !== 'text' && opts.task !== 'ner') throw usageError(`--task is text or ner, got ${JSON.stringify(opts.task)}`);
  await useProject();
  const cfg = loadConfig();
  const lake = openLake(lakeOption(opts.lake) ?? cfg.lake, { home: cfg.home });
  if (!opts.force && (await lake.list(`raw/${dataset}`)).length > 0) {
    print(`${lake.uri(`raw/${dataset}`)} already has data; kept (use --force to regenerate it)`);
    return EXIT_OK;
  }
  const gen = opts.task === 'text' ? generateTextClassification : generateNer;
  const r = await gen({ lake, dataset, rows, seed });
  print(`✔ generated ${r.rows} rows (${opts.task === 'text' ? 'text classification: id, text, label, rating, updated_at, source' : 'token classification'}) into ${lake.uri(`raw/${dataset}`)}`);
  return EXIT_OK;
}
