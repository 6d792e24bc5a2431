// run <pipeline.yaml> [--wait]: start a run, and optionally watch it to the end with live progress.
import type { WorkflowHandle } from '@temporalio/client';
import { loadConfig } from '../../activities/common/config.js';
import type { PipelinePlan } from '../../workflows/spec/validate.js';
import type { PipelineSpecInput } from '../../contracts/spec.js';
import type { PipelineProgress } from '../../contracts/progress.js';
import { loadPipelineFile } from '../../sdk/load-spec.js';
import { startPipeline } from '../../sdk/pipelines.js';
import { useProject, withProject } from '../../sdk/project.js';
import { failureMessage, tryProgress } from './runs.js';
import { serverWaitMs, withServerRetry } from './retry.js';
import { ProgressRenderer } from '../render/progress.js';
import { EXIT_FAILED, EXIT_OK, lakeOption, priorityOption, withClient, workflowUrl, type Connected } from './common.js';

const print = (s = '') => process.stdout.write(`${s}\n`);

export async function runCommand(file: string, opts: { wait?: boolean; lake?: string; runKey?: string; priority?: string }): Promise<number> {
  const project = await useProject();
  const plan = loadPipelineFile(file, project);
  const lake = lakeOption(opts.lake);
  const priority = priorityOption(opts.priority);
  // An explicit --lake wins over the spec's own lake.
  const spec = (lake ? { ...plan.spec, lake } : plan.spec) as PipelineSpecInput;
  return withClient(async (c) => {
    const handle = await startPipeline(c.client, spec, withProject({ runKey: opts.runKey, priority }, project));
    print(`started ${handle.workflowId}`);
    print(`  Web UI: ${workflowUrl(c.namespace, handle.workflowId)}`);
    if (!opts.wait) {
      print(`  watch:  lakeforge status ${handle.workflowId}`);
      return EXIT_OK;
    }
    return watchRun(c, handle, plan);
  });
}

/** Polls the `progress` query and draws it until the run closes; exit 0 on success, 1 otherwise. */
async function watchRun(c: Connected, handle: WorkflowHandle, plan: PipelinePlan): Promise<number> {
  const renderer = new ProgressRenderer(process.stdout);
  const interval = renderer.tty ? 500 : 1000;
  let outcome: { ok: true; value: unknown } | { ok: false; error: unknown } | undefined;
  // The long poll is repeated through a server restart: the run goes on, and its real outcome is what we report.
  const result = withServerRetry('waiting for the run to end', () => handle.result(), { address: c.address, maxWaitMs: serverWaitMs(3600), say: () => {} }).then(
    (value) => { outcome = { ok: true, value }; },
    (error) => { outcome = { ok: false, error }; },
  );
  let last: PipelineProgress | undefined;
  let hinted = false;
  let unreachableSince: number | undefined;
  let unansweredSince: number | undefined;
  let silentSaid = false;
  // "Waiting for a worker" only once the server has answered for a while: after an outage workers reconnect with
  // a backoff, so their silence then is not a missing worker.
  let quietFrom = Date.now();
  let hintAfterMs = 10_000;
  let lastSaid = 0;
  let interrupted = false;
  const onSigint = () => { interrupted = true; };
  process.once('SIGINT', onSigint);
  try {
    while (!outcome && !interrupted) {
      const { progress, error, unreachable } = await tryProgress(c, handle, 5_000);
      if (progress) {
        if (unreachableSince !== undefined) process.stderr.write(`reached the server at ${c.address} again after ${Math.round((Date.now() - unreachableSince) / 1000)}s; still watching ${handle.workflowId}\n`);
        unreachableSince = undefined;
        last = progress;
        renderer.update(progress);
      } else if (unreachable) {
        // The server is down (a restart?): say so, not "waiting for a worker"; the run itself goes on.
        quietFrom = Date.now();
        hintAfterMs = 45_000;
        if (unreachableSince === undefined || Date.now() - lastSaid > 10_000) {
          unreachableSince ??= Date.now();
          lastSaid = Date.now();
          process.stderr.write(`cannot reach the server at ${c.address}, retrying (unreachable for ${Math.round((Date.now() - unreachableSince) / 1000)}s; the run keeps going on the server)\n`);
        }
      } else {
        unansweredSince ??= Date.now();
        if (!hinted && !last && Date.now() - quietFrom > hintAfterMs) {
          hinted = true;
          process.stderr.write(`waiting for a worker on task queue ${loadConfig().etlTaskQueue} (start one with \`lakeforge worker\`)${error ? `: ${error.split('\n')[0]}` : ''}\n`);
        } else if (last && !silentSaid && Date.now() - unansweredSince > 30_000) {
          // A worker answered before: after a server restart workers take a while to poll again; not "no worker".
          silentSaid = true;
          process.stderr.write(`no worker has answered for progress for ${Math.round((Date.now() - unansweredSince) / 1000)}s (workers reconnecting?); still watching ${handle.workflowId}\n`);
        }
      }
      if (progress) { unansweredSince = undefined; silentSaid = false; }
      await Promise.race([result, new Promise((r) => setTimeout(r, interval))]);
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  if (interrupted) {
    print(`stopped watching; ${handle.workflowId} keeps running (lakeforge status / lakeforge cancel ${handle.workflowId})`);
    return 130;
  }
  const final = (await tryProgress(c, handle, 5_000)).progress ?? last;
  if (final) renderer.finish(final);
  const settled = outcome!;
  if (settled.ok) {
    const out = settled.value as { steps?: Record<string, { uri: string; cached: boolean }> };
    for (const s of plan.steps) {
      const r = out.steps?.[s.name];
      if (r) print(`  ${s.name}: ${r.uri}${r.cached ? ' (cached)' : ''}`);
    }
    print(`✔ ${handle.workflowId} succeeded`);
    print(`  Web UI: ${workflowUrl(c.namespace, handle.workflowId)}`);
    return EXIT_OK;
  }
  process.stderr.write(`✖ ${handle.workflowId} failed: ${failureMessage(settled.error)}\n`);
  process.stderr.write(`  Web UI: ${workflowUrl(c.namespace, handle.workflowId)}\n`);
  return EXIT_FAILED;
}

