// The step registry and the typed workflow↔activity contract: every kind has one definition and one implementation,
// the workers serve what the registry routes to them, and a call that does not match an activity's input fails tsc.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import type { StepResult } from '../contracts/step-result.js';
import { NON_RETRYABLE_TYPES, FailureType } from '../contracts/failures.js';
import { StepSpecSchema } from '../contracts/spec.js';
import type { StepActivities } from '../steps/activities.js';
import { REGISTRY, STEP_IMPLS, STEP_KINDS, createEtlActivities, createGpuActivities, createPromoteActivities } from '../steps/index.js';
import { validatePipeline } from '../workflows/spec/validate.js';
import { REPO_ROOT } from '../activities/common/config.js';

// Compile-time checks (npm test runs tsc first): each line below must NOT type-check, or @ts-expect-error fails tsc.
export function wrongCalls(acts: StepActivities, r: StepResult) {
  // @ts-expect-error features takes its upstream output as `inputs.input`, not as a top-level `input`
  void acts.features({ dataset: 'd', step: 's', runId: 'r', input: r, params: { task: 'text-classification' } });
  // @ts-expect-error clean's `columns` is a list of column declarations, not a string
  void acts.clean({ dataset: 'd', step: 's', runId: 'r', inputs: {}, params: { columns: 'text' } });
  // @ts-expect-error evaluate needs both its trained model and its features
  void acts.evaluate({ dataset: 'd', step: 's', runId: 'r', inputs: { trained: r }, params: {} });
}

describe('the step registry', () => {
  it('has one implementation per kind, and the spec schema accepts exactly its kinds', () => {
    expect(Object.keys(STEP_IMPLS).sort()).toEqual([...STEP_KINDS].sort());
    for (const k of STEP_KINDS) expect(STEP_IMPLS[k].kind).toBe(k);
    expect(StepSpecSchema.options.map((o) => o.shape.uses.value).sort()).toEqual([...STEP_KINDS].sort());
  });

  it("routes each kind to a worker that registers its activity", () => {
    const etl = { ...createEtlActivities({ duckdb: null as never }), ...createPromoteActivities({ home: '/tmp' }) };
    const gpu = createGpuActivities({ home: '/tmp', slots: { acquire: async () => ({ release() {} }) } as never });
    for (const k of STEP_KINDS) {
      const served = REGISTRY[k].queue === 'etl' ? etl : gpu;
      expect(Object.keys(served), `${k} on the ${REGISTRY[k].queue} queue`).toContain(k);
    }
  });

  it('reads input roles, models and param schemas from the registry', () => {
    const r = validatePipeline({
      name: 'p', dataset: { name: 'd', columns: [{ name: 'text', type: 'VARCHAR' }, { name: 'label', type: 'VARCHAR' }] },
      steps: [
        { name: 'clean', uses: 'clean' },
        { name: 'features', uses: 'features', needs: ['clean'], with: { task: 'text-classification' } },
        { name: 'train', uses: 'train', needs: ['features'], with: { model: { config: { model_type: 'bert' } } } },
        { name: 'eval', uses: 'evaluate', needs: ['train'] },
      ],
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.plan.steps.map((s) => [s.name, s.inputs, s.model ?? null])).toEqual([
      ['clean', {}, null], ['features', { input: 'clean' }, null], ['train', { features: 'features' }, 'p'], ['eval', { trained: 'train', features: 'features' }, 'p'],
    ]);
    // `model` is declared only by kinds that name their own model.
    const bad = validatePipeline({ name: 'p', dataset: { name: 'd' }, steps: [{ name: 'c', uses: 'clean', model: 'm' }] });
    expect(bad.ok).toBe(false);
  });

  it('marks internal invariant violations, exhausted resources, step failures and cancellation non-retryable', () => {
    for (const t of [FailureType.BadInput, FailureType.SchemaMismatch, FailureType.InvalidPipeline, FailureType.InvariantViolated, FailureType.ResourceExhausted, FailureType.StepFailed, FailureType.Cancelled]) {
      expect(NON_RETRYABLE_TYPES).toContain(t);
    }
    for (const t of [FailureType.TrainerCrashed, FailureType.Preempted, FailureType.StorageUnavailable]) {
      expect(NON_RETRYABLE_TYPES).not.toContain(t);
    }
  });

  it('fails to compile a workflow call that sends an input the activity no longer takes', () => {
    const dir = mkdtempSync(join(REPO_ROOT, 'test', '.tmp-contract-'));
    const file = join(dir, 'wrong-call.ts');
    writeFileSync(file, [
      "import type { StepActivities } from '../../steps/activities.js';",
      "export const call = (acts: StepActivities) => acts.sql({ dataset: 'd', step: 's', runId: 'r', inputs: {}, params: { file: 'sql/x.sql' } });",
    ].join('\n'));
    const program = ts.createProgram([file], { strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, noEmit: true, skipLibCheck: true, types: ['node'] });
    const errors = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === file).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    // sql takes its upstream output as inputs.input: an empty `inputs` must be refused.
    expect(errors.join('\n')).toMatch(/input/);
  }, 120_000);
});
