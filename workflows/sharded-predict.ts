// shardedPredictWorkflow: a predict step with `shards: N` (steps/predict). N predictShard activities score the parts
// whose index ≡ shard (mod N) at once, each on whichever GPU worker has a free slot, mirroring finished parts to the
// lake; then the step's own predict activity restores them all, scores whatever a shard left, checks the count,
// measures drift and publishes. A shard that fails is retried alone (its finished parts stay); the publication is
// the unsharded step's, version included, so the two share the cache. Deterministic: activities are types only.
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { GpuActivities } from '../steps/activities.js';
import type { StepInput } from '../contracts/step-input.js';
import type { StepResult } from '../contracts/step-result.js';
import { invalidPipeline } from '../contracts/failures.js';

export interface ShardedPredictInput {
  input: StepInput<'predict'>;
  shards: number;
  activity: ActivityOptions;
}

export async function shardedPredictWorkflow({ input, shards, activity }: ShardedPredictInput): Promise<StepResult> {
  if (!Number.isInteger(shards) || shards < 2) throw invalidPipeline(`shardedPredictWorkflow: shards must be an integer of at least 2, got ${shards}`);
  const { predictShard, predict } = proxyActivities<GpuActivities>(activity);
  await Promise.all(Array.from({ length: shards }, (_, index) => predictShard({ input, shard: { index, count: shards } })));
  return predict(input);
}

/** The shards a predict step asks for (`with.shards`, default 1). */
export function predictShards(params: unknown): number {
  const n = (params as { shards?: unknown } | undefined)?.shards;
  return typeof n === 'number' && Number.isInteger(n) && n > 1 ? n : 1;
}
