// Exit codes and the one-line error report. Kept free of heavy imports (the Temporal client, zod): main.ts loads it
// for every command, including --help. Errors are recognised by name, which the SDK sets on its error classes.
export const EXIT_OK = 0;
/** The run (or the operation on the server) failed. */
export const EXIT_FAILED = 1;
/** The input was invalid: a bad spec, an unknown id, a bad flag. */
export const EXIT_INVALID = 2;

/** An error meant for the user: printed as one line (plus its cause), never with a stack trace. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT_FAILED, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export const usageError = (message: string) => new CliError(message, EXIT_INVALID);

function causeChain(err: unknown): string[] {
  const out: string[] = [];
  let e = (err as { cause?: unknown })?.cause;
  for (let i = 0; e && i < 5; i++, e = (e as { cause?: unknown }).cause) {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg && !out.includes(msg)) out.push(msg.split('\n')[0]);
  }
  return out;
}

/** Maps any error to the exit code and the lines the user sees. */
export function describeError(err: unknown): { exitCode: number; lines: string[] } {
  if (named(err, 'InvalidPipeline')) return { exitCode: EXIT_INVALID, lines: (err as Error).message.split('\n') };
  if (named(err, 'InvalidProject')) return { exitCode: EXIT_INVALID, lines: [`error: ${(err as Error).message}`, ...causeChain(err).map((c) => `  cause: ${c}`)] };
  if (err instanceof CliError) {
    const cause = causeChain(err);
    return { exitCode: err.exitCode, lines: [`error: ${err.message}`, ...cause.map((c) => `  cause: ${c}`)] };
  }
  if (named(err, 'WorkflowNotFoundError')) return { exitCode: EXIT_INVALID, lines: [`error: no run with workflow id ${JSON.stringify((err as { workflowId?: string }).workflowId)}`] };
  if (named(err, 'ScheduleNotFoundError')) return { exitCode: EXIT_INVALID, lines: [`error: no schedule with id ${JSON.stringify((err as { scheduleId?: string }).scheduleId)}`] };
  if (named(err, 'ScheduleAlreadyRunning')) return { exitCode: EXIT_INVALID, lines: [`error: a schedule with id ${JSON.stringify((err as { scheduleId?: string }).scheduleId)} already exists (pick another with --id, or delete it first)`] };
  if (named(err, 'WorkflowExecutionAlreadyStartedError')) return { exitCode: EXIT_INVALID, lines: [`error: a run with workflow id ${JSON.stringify((err as { workflowId?: string }).workflowId)} is already running`] };
  if (named(err, 'WorkflowFailedError')) return { exitCode: EXIT_FAILED, lines: [`error: ${(err as Error).message}`, ...causeChain(err).map((c) => `  cause: ${c}`)] };
  const message = err instanceof Error ? err.message : String(err);
  return { exitCode: EXIT_FAILED, lines: [`error: ${message.split('\n')[0]}`, ...causeChain(err).map((c) => `  cause: ${c}`)] };
}

function named(err: unknown, name: string): boolean {
  return err instanceof Error && err.name === name;
}
