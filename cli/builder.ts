// A typed builder for pipeline specs, for people who declare pipelines in TypeScript instead of YAML.
// It produces exactly the object a YAML file would parse to; startPipeline validates it the same way.
import type { PipelineSpecInput } from '../contracts/spec.js';
import type { CleanParamsInput, FeaturesParamsInput, SqlParamsInput } from '../activities/steps/index.js';
import type { TrainParamsInput, EvaluateParams, PromoteParams } from '../activities/steps/training-index.js';

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

  clean(name: string, params: Partial<CleanParamsInput> = {}, opts: StepOptions = {}): this {
    return this.push({ name, uses: 'clean', with: params as Record<string, unknown>, ...opts });
  }
  features(name: string, params: FeaturesParamsInput, opts: StepOptions & { needs: string[] }): this {
    return this.push({ name, uses: 'features', with: params as Record<string, unknown>, ...opts });
  }
  train(name: string, params: TrainParamsInput, opts: StepOptions & { needs: string[]; model?: string }): this {
    return this.push({ name, uses: 'train', with: params as Record<string, unknown>, ...opts });
  }
  evaluate(name: string, params: Partial<EvaluateParams> = {}, opts: StepOptions & { needs: string[] }): this {
    return this.push({ name, uses: 'evaluate', with: params as Record<string, unknown>, ...opts });
  }
  promote(name: string, params: Pick<PromoteParams, 'metric' | 'threshold'> & Partial<PromoteParams>, opts: StepOptions & { needs: string[] }): this {
    return this.push({ name, uses: 'promote', with: params as Record<string, unknown>, ...opts });
  }

  /** A custom SQL step: `file` under sql/, a SELECT over the view `input` (the one ETL step it needs). */
  sql(name: string, params: SqlParamsInput, opts: StepOptions & { needs: string[] }): this {
    return this.push({ name, uses: 'sql', with: params as Record<string, unknown>, ...opts });
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
