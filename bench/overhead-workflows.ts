// Baseline for bench/overhead.ts: the same chain of activities with no lakeforge machinery around it.
import { proxyActivities } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(i: number): Promise<number> }>({ startToCloseTimeout: '1m' });

export async function chainBaselineWorkflow(n: number): Promise<number> {
  let x = 0;
  for (let i = 0; i < n; i++) x = await noop(i);
  return x;
}
