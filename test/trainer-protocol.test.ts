import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  RunConfigSchema,
  TrainerEventSchema,
  TrainerExitCode,
  parseTrainerEvent,
  type RunConfigInput,
  type TrainerEvent,
} from '../contracts/trainer-protocol.js';
import { renderTrainerSchemas, TRAINER_SCHEMA_DIR } from '../infra/gen-trainer-schema.js';

const sampleConfig: RunConfigInput = {
  task: 'sequence-classification',
  model: { config: { model_type: 'bert', hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64 } },
  tokenizer: { type: 'train-wordpiece', vocab_size: 500, lowercase: true },
  data: { train: '/lake/features/reviews/v1/split=train', val: '/lake/features/reviews/v1/split=val', test: null },
  labels: ['neg', 'pos'],
  hparams: { epochs: 2, batch_size: 16, learning_rate: 1e-3, early_stopping: { metric: 'macro_f1', mode: 'max', patience: 2 } },
  checkpoint_dir: '/lake/checkpoints/run-1/train',
  checkpoint_every_steps: 50,
  keep_last: 2,
  resume_from: 'latest',
  output_dir: '/tmp/out',
  seed: 7,
  deterministic: true,
};

describe('trainer protocol', () => {
  it('committed JSON Schemas equal freshly generated ones (run `npx tsx infra/gen-trainer-schema.ts`)', () => {
    for (const [name, text] of Object.entries(renderTrainerSchemas())) {
      const committed = readFileSync(resolve(TRAINER_SCHEMA_DIR, name), 'utf8');
      expect(JSON.parse(committed), name).toEqual(JSON.parse(text));
      expect(committed, name).toBe(text);
    }
  });

  it('accepts a sample run.json and fills defaults', () => {
    const cfg = RunConfigSchema.parse(sampleConfig);
    expect(cfg.data.text_column).toBe('text');
    expect(cfg.data.max_length).toBe(128);
    expect(cfg.hparams.grad_accum_steps).toBe(1);
    expect(cfg.hparams.early_stopping).toEqual({ metric: 'macro_f1', mode: 'max', patience: 2 });
    expect(cfg.tokenizer).toEqual({ type: 'train-wordpiece', vocab_size: 500, lowercase: true });

    const ner = RunConfigSchema.parse({
      task: 'token-classification',
      model: { name_or_path: '/models/ner/v3' },
      tokenizer: { type: 'pretrained', name_or_path: '/models/ner/v3' },
      data: { test: '/lake/features/ner/v1/split=test' },
      labels: ['O', 'B-PER', 'I-PER'],
      output_dir: '/tmp/eval',
    });
    expect(ner.hparams.epochs).toBe(3);
    expect(ner.resume_from).toBeNull();
  });

  it('rejects misspelt and ill-typed run.json fields', () => {
    expect(RunConfigSchema.safeParse({ ...sampleConfig, hparams: { lerning_rate: 1 } }).success).toBe(false);
    expect(RunConfigSchema.safeParse({ ...sampleConfig, task: 'regression' }).success).toBe(false);
    expect(RunConfigSchema.safeParse({ ...sampleConfig, labels: [] }).success).toBe(false);
    expect(RunConfigSchema.safeParse({ ...sampleConfig, model: { config: { hidden_size: 8 } } }).success).toBe(false);
    expect(RunConfigSchema.safeParse({ ...sampleConfig, tokenizer: { type: 'train-wordpiece' } }).success).toBe(false);
  });

  it('validates sample events and rejects malformed ones', () => {
    const samples: TrainerEvent[] = [
      { event: 'started', device: 'cpu', world_size: 1, resumed_from_step: null, mode: 'train', total_steps: 40 },
      { event: 'progress', step: 10, epoch: 0.5, loss: 0.69, lr: 1e-3, samples_per_s: 120.5, tokens_per_s: 3000, eta_s: 4.2 },
      { event: 'checkpoint', step: 10, path: '/ck/step-10', reason: 'interval' },
      { event: 'eval', step: 10, metrics: { loss: 0.5, accuracy: 0.8, macro_f1: 0.79 }, split: 'val' },
      { event: 'done', output_dir: '/tmp/out', metrics: { accuracy: 0.9 }, steps: 40 },
      { event: 'error', kind: 'bad_input', message: 'missing column text in part-0.parquet', reason: 'missing_column', column: 'text' },
    ];
    for (const e of samples) {
      expect(TrainerEventSchema.parse(e)).toEqual(e);
      expect(parseTrainerEvent(JSON.stringify(e))).toEqual(e);
    }
    expect(parseTrainerEvent('not json')).toBeUndefined();
    expect(parseTrainerEvent(JSON.stringify({ event: 'progress', step: 1 }))).toBeUndefined();
    expect(parseTrainerEvent(JSON.stringify({ event: 'error', kind: 'oops', message: 'x' }))).toBeUndefined();
    // Tolerant of extra fields on the TS side.
    expect(parseTrainerEvent(JSON.stringify({ event: 'checkpoint', step: 3, path: '/p', extra: 1 }))).toEqual({ event: 'checkpoint', step: 3, path: '/p' });
    expect(TrainerExitCode).toEqual({ Done: 0, BadInput: 2, Preempted: 75 });
  });
});
