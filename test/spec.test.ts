import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { InvalidPipelineError, loadPipelineFile, parsePipelineText } from '../cli/load-spec.js';

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
      expect(evaluate).toMatchObject({ inputStep: 'train', featuresStep: 'features' });
    }
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
    const { pipeline } = await import('../cli/builder.js');
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
