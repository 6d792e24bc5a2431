// The one adapter between a step and its Temporal activity context: heartbeats, cancellation, attempt info.
// Called outside an activity (tests, benchmarks, scripts) everything is inert.
import { Context } from '@temporalio/activity';

/** What a step needs from its surroundings while it works. */
export interface StepControl {
  heartbeat(details?: unknown): void;
  signal: AbortSignal | undefined;
}

/** The activity's context, or undefined when called directly. */
export function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** The context to heartbeat on: a local activity (a step run inline, workflows/inline-steps.ts) has none to send. */
function heartbeatContext(ctx: Context | undefined): Context | undefined {
  return ctx && !ctx.info.isLocal ? ctx : undefined;
}

export function currentControl(): StepControl {
  const ctx = currentContext();
  const hb = heartbeatContext(ctx);
  return ctx ? { heartbeat: (d) => hb?.heartbeat(d), signal: ctx.cancellationSignal } : { heartbeat: () => {}, signal: undefined };
}

/** Heartbeats `details()` now and every `everyMs` until stopped; inert outside an activity. */
export function startHeartbeats(details: () => unknown, everyMs = 5_000): { beat: () => void; stop: () => void } {
  const ctx = heartbeatContext(currentContext());
  const beat = () => ctx?.heartbeat(details());
  beat();
  // Several beats per heartbeat timeout, whatever the caller chose, so a busy event loop never misses one.
  const timeoutMs = ctx?.info.heartbeatTimeoutMs;
  const timer = setInterval(beat, timeoutMs ? Math.max(200, Math.min(everyMs, timeoutMs / 4)) : everyMs);
  return { beat, stop: () => clearInterval(timer) };
}
