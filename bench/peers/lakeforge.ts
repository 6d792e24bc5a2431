// lakeforge side of the peer benchmark: pipelines on a dev server with its SQLite file (durable, as `npm start`
// runs it), served by the real ETL worker (workers/etl.ts), timed from the runs' Temporal histories.
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { join } from 'node:path';
import { loadPipelineFile } from '../../sdk/load-spec.js';
import { startPipeline } from '../../sdk/pipelines.js';
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

/**
 * Each step's start and end as the worker saw them, by workflow id: a step run inline (workflows/inline-steps.ts)
 * is a local activity, whose marker in the history records its completion but not its start, so the gaps between
 * steps come from here, for activities and inline steps alike. The run's total comes from the history.
 */
export class StepClock {
  readonly spans = new Map<string, { type: string; start: number; end: number }[]>();
  readonly interceptor: ActivityInterceptorsFactory = (ctx) => ({
    inbound: {
      execute: async (input, next) => {
        const start = performance.now();
        try { return await next(input); } finally {
          const id = ctx.info.workflowExecution?.workflowId ?? '';
          if (ctx.info.activityType !== 'probePipeline') this.spans.set(id, [...(this.spans.get(id) ?? []), { type: ctx.info.activityType, start, end: performance.now() }]);
        }
      },
    },
  });
  /** One step's end → the next one's start, in the order they started. */
  gaps(workflowId: string): number[] {
    const s = [...(this.spans.get(workflowId) ?? [])].sort((a, b) => a.start - b.start);
    return s.slice(1).map((x, i) => Math.max(0, x.start - s[i].end));
  }
}

/** Times as the history records them: run start → close, and the number of activities and inline steps. */
export function fromHistory(events: Event[]): Sample {
  const started = events.find((e) => e.workflowExecutionStartedEventAttributes)!;
  const closed = events.find((e) => e.workflowExecutionCompletedEventAttributes);
  if (!closed) throw new Error('run did not complete');
  const local = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length;
  const tasks = events.filter((e) => e.activityTaskScheduledEventAttributes).length + local;
  return { total_s: (ms(closed) - ms(started)) / 1000, gaps_ms: [], tasks, cached: 0 };
}

export async function runLakeforge(client: Client, clock: StepClock, spec: PipelineSpecInput, lake: string, runKey: string, queue: string): Promise<Sample & { events: number; result: unknown }> {
  const h: WorkflowHandle = await startPipeline(client, spec, { lake, queues: { etl: queue, gpu: `${queue}-gpu` }, runKey });
  const result = (await h.result()) as { steps: Record<string, { cached: boolean }> };
  const events = (await h.fetchHistory()).events ?? [];
  const s = { ...fromHistory(events), gaps_ms: clock.gaps(h.workflowId) };
  return { ...s, cached: Object.values(result.steps).filter((r) => r.cached).length, events: events.length, result };
}

export const lakeDir = (root: string, name: string) => join(root, name);
