// lakeforge side of the peer benchmark: pipelines on a dev server with its SQLite file (durable, as `npm start`
// runs it), served by the real ETL worker (workers/etl.ts), timed from the runs' Temporal histories.
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { join } from 'node:path';
import { loadPipelineFile } from '../../cli/load-spec.js';
import { startPipeline } from '../../cli/sdk.js';
import type { PipelineSpecInput } from '../../contracts/spec.js';
import type { Sample } from './stats.js';

type Event = temporal.api.history.v1.IHistoryEvent;
const ms = (e: Event) => Number(e.eventTime!.seconds) * 1000 + (e.eventTime!.nanos ?? 0) / 1e6;

/** The news example's dataset and clean step: the same cleaning as the peers' clean step. */
function newsBase(dataset: string) {
  const news = loadPipelineFile('examples/pipelines/news.yaml').spec;
  const steps = news.steps as { name: string; uses: string; with?: unknown }[];
  return { dataset: { ...news.dataset, name: dataset }, clean: steps.find((s) => s.uses === 'clean')!, features: steps.find((s) => s.uses === 'features')! };
}

/** clean, then `n` trivial steps (sql/bench/passthrough.sql: SELECT * FROM input), each needing the one before. */
export function chainSpec(dataset: string, n: number): PipelineSpecInput {
  const { dataset: ds, clean } = newsBase(dataset);
  const steps: unknown[] = [{ ...clean, name: 'clean' }];
  for (let i = 1; i <= n; i++) {
    steps.push({ name: `step-${i}`, uses: 'sql', needs: [i === 1 ? 'clean' : `step-${i - 1}`], with: { file: 'sql/bench/passthrough.sql', output: `step-${i}` } });
  }
  return { name: 'peer-chain', dataset: ds, steps } as PipelineSpecInput;
}

/** The 2M-row case: clean → features only. */
export function etlSpec(dataset: string): PipelineSpecInput {
  const { dataset: ds, clean, features } = newsBase(dataset);
  return { name: 'peer-etl', dataset: ds, steps: [clean, { ...features, needs: [clean.name] }] } as PipelineSpecInput;
}

/** Times as the history records them: run start → close, and each activity's completion → the next one's start. */
export function fromHistory(events: Event[]): Sample {
  const started = events.find((e) => e.workflowExecutionStartedEventAttributes)!;
  const closed = events.find((e) => e.workflowExecutionCompletedEventAttributes);
  if (!closed) throw new Error('run did not complete');
  const gaps: number[] = [];
  let lastCompleted: number | undefined;
  let tasks = 0;
  for (const e of events) {
    if (e.activityTaskCompletedEventAttributes) { lastCompleted = ms(e); tasks++; }
    if (e.activityTaskStartedEventAttributes && lastCompleted !== undefined) {
      gaps.push(ms(e) - lastCompleted);
      lastCompleted = undefined;
    }
  }
  return { total_s: (ms(closed) - ms(started)) / 1000, gaps_ms: gaps, tasks, cached: 0 };
}

export async function runLakeforge(client: Client, spec: PipelineSpecInput, lake: string, runKey: string, queue: string): Promise<Sample & { events: number; result: unknown }> {
  const h: WorkflowHandle = await startPipeline(client, spec, { lake, queues: { etl: queue, gpu: `${queue}-gpu` }, runKey });
  const result = (await h.result()) as { steps: Record<string, { cached: boolean }> };
  const events = (await h.fetchHistory()).events ?? [];
  const s = fromHistory(events);
  return { ...s, cached: Object.values(result.steps).filter((r) => r.cached).length, events: events.length, result };
}

export const lakeDir = (root: string, name: string) => join(root, name);
