// Relays training progress from the trainer's events to the pipeline workflow as `stepProgress` signals, so the
// `progress` query and the Web UI's step table show the current step, loss and ETA. (Heartbeat details are not
// visible to a workflow.) Throttled: one signal per step every few seconds keeps the history small.
import { Context } from '@temporalio/activity';
import type { TrainerEvent } from '../contracts/trainer-protocol.js';
import type { TrainerEventContext } from '../activities/trainer/deps.js';
import { stepProgressSignal } from '../contracts/messages.js';

export function trainingProgressRelay(minIntervalMs = 5_000) {
  const lastSent = new Map<string, number>();
  return (e: TrainerEvent, at: TrainerEventContext): void => {
    if (at.mode !== 'train' || !at.step || (e.event !== 'progress' && e.event !== 'checkpoint' && e.event !== 'started')) return;
    let ctx: Context;
    try {
      ctx = Context.current();
    } catch {
      return; // called outside an activity (unit tests)
    }
    const { workflowExecution } = ctx.info;
    if (!workflowExecution) return; // a standalone activity has no workflow to tell
    const key = `${workflowExecution.workflowId}/${at.step}`;
    const now = Date.now();
    if (e.event === 'progress') {
      // Only progress is throttled, and only against progress: frequent checkpoints must not starve the loss.
      if (now - (lastSent.get(key) ?? 0) < minIntervalMs) return;
      lastSent.set(key, now);
    }
    const progress =
      e.event === 'progress'
        ? { step: e.step, loss: e.loss, samplesPerSecond: e.samples_per_s, etaSeconds: e.eta_s }
        : e.event === 'checkpoint'
          ? { step: e.step, checkpoint: e.path }
          : { step: e.resumed_from_step ?? 0, totalSteps: e.total_steps };
    // A workflow that is not a pipeline (no such signal handler) just records the signal; failures are not fatal.
    ctx.client.workflow
      .getHandle(workflowExecution.workflowId, workflowExecution.runId)
      .signal(stepProgressSignal, { step: at.step, progress })
      .catch((err) => ctx.log.debug('progress signal not delivered', { error: String(err) }));
  };
}
