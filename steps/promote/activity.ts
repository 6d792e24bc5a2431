// promote: the gate that names a model version in models/<model>/champion.json, through the kernel. It publishes no
// directory of its own: its plan decides and returns the result (the champion file is one atomic write).
import { z } from 'zod';
import { badInput, invalidPipeline } from '../../contracts/failures.js';
import type { StepInput } from '../../contracts/step-input.js';
import type { StepResult } from '../../contracts/step-result.js';
import type { LakeStorage } from '../../activities/lake/index.js';
import { lakeJoin, MANIFEST_FILE, modelName, readManifest } from '../../activities/lake/index.js';
import type { LakeDeps } from '../../activities/kernel/input.js';
import { runStep, type StepImpl } from '../../activities/kernel/lifecycle.js';
import type { PromoteParams } from './params.js';
import { bestBaseline } from './baselines.js';
import { decide, decisionMetrics, describeDecision, DecisionSchema, type Decision } from './gate.js';
export { PromoteParamsSchema, type PromoteParams } from './params.js';

export const ChampionSchema = z.object({
  model: z.string(),
  version: z.string(),
  uri: z.string(),
  metric: z.string(),
  value: z.number(),
  previous: z.object({ version: z.string(), metric: z.string(), value: z.number(), decidedAt: z.string() }).nullable(),
  decidedAt: z.string(),
  reason: z.string(),
  /** Every rule checked, with margins, and the one that decided (absent in files written before the rules existed). */
  decision: DecisionSchema.optional(),
});
export type Champion = z.infer<typeof ChampionSchema>;

export function championRel(model: string): string {
  return lakeJoin('models', model, 'champion.json');
}

export async function readChampion(lake: LakeStorage, model: string): Promise<Champion | null> {
  const text = await lake.readText(championRel(model));
  if (text === null) return null;
  try {
    const r = ChampionSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

export const promoteStep: StepImpl<'promote', LakeDeps, undefined> = {
  kind: 'promote',
  async plan({ input, params, lake, upstream }) {
    if (!input.model) throw invalidPipeline('promote: the input names no model');
    return { result: await gate(lake, modelName(input.model), input.inputs.evaluated, upstream.evaluated.manifest, params) };
  },
  async compute() {
    return [];
  },
};

export function promote(d: LakeDeps, input: StepInput<'promote'>): Promise<StepResult> {
  return runStep(promoteStep, d, input);
}

/**
 * The promotion gate: `models/<model>/champion.json` names the candidate only when its metric meets the threshold,
 * is at least the evaluation's best baseline's and at least the champion's (gate.ts; the first failing rule
 * decides). The file is replaced in one write (a rename on a local lake, a single object write on GCS), so readers
 * see the old champion or the new one, never a mix. Decision and the numbers go in `metrics`.
 */
async function gate(lake: LakeStorage, model: string, evaluatedRef: StepResult, evaluatedManifest: Record<string, unknown>, params: PromoteParams): Promise<StepResult> {
  const input = { evaluated: evaluatedRef };
  const evaluated = { manifest: evaluatedManifest };
  const em = evaluated.manifest as Record<string, unknown>;
  const modelVersion = typeof em.modelVersion === 'string' ? em.modelVersion : undefined;
  const modelUri = typeof em.modelUri === 'string' ? em.modelUri : undefined;
  if (!modelVersion || !modelUri) throw badInput(`${input.evaluated.uri} is not a lakeforge evaluation (no modelVersion/modelUri in its manifest)`);
  const metrics = { ...(em.metrics as Record<string, number> | undefined), ...input.evaluated.metrics };
  const value = metrics[params.metric];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalidPipeline(`promote: the evaluation has no metric ${JSON.stringify(params.metric)} (it has ${Object.keys(metrics).join(', ')})`);
  }
  const current = await readChampion(lake, model);
  const champValue = current ? await championValue(lake, model, current, params.metric) : undefined;
  const baseline = bestBaseline(em.baselines, params.metric, params.mode);
  const modelManifestUri = lake.uri(lakeJoin(lake.relative(modelUri), MANIFEST_FILE));
  const out = (promoted: boolean, version: string, cached: boolean, decision?: Decision): StepResult => ({
    step: 'promote',
    version,
    uri: lake.uri(championRel(model)),
    cached,
    metrics: {
      promoted: promoted ? 1 : 0,
      candidate: value,
      ...(champValue !== undefined ? { champion: champValue } : {}),
      ...(baseline ? { baseline: baseline.value } : {}),
      threshold: params.threshold,
      ...(decision ? decisionMetrics(decision) : {}),
    },
    manifest: promoted ? modelManifestUri : current ? lake.uri(lakeJoin(lake.relative(current.uri), MANIFEST_FILE)) : modelManifestUri,
  });

  // Idempotent: a retry after the write (or a re-run) finds the candidate already serving.
  if (current?.version === modelVersion) return out(true, modelVersion, true, current.decision);

  const decision = decide({
    metric: params.metric, mode: params.mode, value, threshold: params.threshold,
    baseline, mustBeatBaseline: params.mustBeatBaseline,
    champion: current ? { version: current.version, value: champValue } : undefined, mustBeatChampion: params.mustBeatChampion,
  });
  const reason = describeDecision(decision, params.metric, value, params.mode);
  if (decision.decidedBy !== 'all') return out(false, current?.version ?? modelVersion, false, decision);

  const champion: Champion = {
    model,
    version: modelVersion,
    uri: modelUri,
    metric: params.metric,
    value,
    previous: current ? { version: current.version, metric: current.metric, value: current.value, decidedAt: current.decidedAt } : null,
    decidedAt: new Date().toISOString(),
    reason,
    decision,
  };
  await lake.writeText(championRel(model), `${JSON.stringify(champion, null, 2)}\n`);
  return out(true, modelVersion, false, decision);
}

/** The champion's value on `metric`: from champion.json when it was chosen on that metric, else its evaluation. */
async function championValue(lake: LakeStorage, model: string, c: Champion, metric: string): Promise<number | undefined> {
  if (c.metric === metric) return c.value;
  try {
    const m = (await readManifest(lake, lakeJoin(lake.relative(c.uri), 'eval'))) as Record<string, unknown> | null;
    const v = (m?.metrics as Record<string, unknown> | undefined)?.[metric];
    return typeof v === 'number' ? v : undefined;
  } catch {
    return undefined;
  }
}
