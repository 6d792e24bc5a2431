// A typed builder for pipeline specs, for people who declare pipelines in TypeScript instead of YAML.
// It produces exactly the object a YAML file would parse to; startPipeline validates it the same way.
import type { PipelineSpecInput } from '../contracts/spec.js';
import type { StepKind } from '../steps/registry.js';
import type { ParamsOf } from '../contracts/step-input.js';
export type { ParamsOf } from '../contracts/step-input.js';
type DatasetInput = PipelineSpecInput['dataset'];
type StepOptions = { needs?: string[]; retry?: PipelineSpecInput['defaults'] extends infer D ? D extends { retry?: infer R } ? R : never : never; timeout?: string; queue?: string; summary?: string };

export class PipelineBuilder {
  private readonly spec: PipelineSpecInput;

  constructor(name: string, dataset: DatasetInput) {
    this.spec = { name, dataset, steps: [] };
  }

  describe(description: string): this { this.spec.description = description; return this; }
  lake(uri: string): this { this.spec.lake = uri; return this; }
  model(name: string): this { this.spec.model = name; return this; }

  /** A step of any registered kind, its params typed by the kind's schema. */
  step<K extends StepKind>(kind: K, name: string, params: Partial<ParamsOf<K>>, opts: StepOptions & { model?: string } = {}): this {
    return this.push({ name, uses: kind, with: params as Record<string, unknown>, ...opts } as PipelineSpecInput['steps'][number]);
  }

  // One shorthand per built-in kind.
  clean(name: string, params: Partial<ParamsOf<'clean'>> = {}, opts: StepOptions = {}): this {
    return this.step('clean', name, params, opts);
  }
  features(name: string, params: ParamsOf<'features'>, opts: StepOptions & { needs: string[] }): this {
    return this.step('features', name, params, opts);
  }
  train(name: string, params: ParamsOf<'train'>, opts: StepOptions & { needs: string[]; model?: string }): this {
    return this.step('train', name, params, opts);
  }
  evaluate(name: string, params: Partial<ParamsOf<'evaluate'>> = {}, opts: StepOptions & { needs: string[] }): this {
    return this.step('evaluate', name, params, opts);
  }
  promote(name: string, params: ParamsOf<'promote'>, opts: StepOptions & { needs: string[] }): this {
    return this.step('promote', name, params, opts);
  }
  /** A custom SQL step: `file` under sql/, a SELECT over the view `input` (the one ETL step it needs). */
  sql(name: string, params: ParamsOf<'sql'>, opts: StepOptions & { needs: string[] }): this {
    return this.step('sql', name, params, opts);
  }

  build(): PipelineSpecInput {
    return structuredClone(this.spec);
  }

  private push(step: PipelineSpecInput['steps'][number]): this {
    this.spec.steps.push(Object.fromEntries(Object.entries(step).filter(([, v]) => v !== undefined)) as typeof step);
    return this;
  }
}

export function pipeline(name: string, dataset: DatasetInput): PipelineBuilder {
  return new PipelineBuilder(name, dataset);
}
