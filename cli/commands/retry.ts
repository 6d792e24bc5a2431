// Riding out a Temporal server restart. Once connected, the CLI's calls (describe, query, list, and the long poll
// behind `run --wait`) are retried with backoff while the server is unreachable, saying so on stderr, so that a
// restart never makes the CLI report a failure for a run that goes on (and later succeeds). The gRPC channel
// reconnects by itself; only the calls need repeating.

/**
 * gRPC UNAVAILABLE, or a socket error anywhere in the cause chain. Not DEADLINE_EXCEEDED: a query nobody answers
 * (no worker) ends that way too, and that is not the server's absence.
 */
const UNAVAILABLE = 14;
const SOCKET = /ECONNREFUSED|ECONNRESET|EPIPE|EHOSTUNREACH|No connection established|Connection dropped|Socket closed|failed to connect to all addresses/i;

export function isServerUnreachable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === UNAVAILABLE) return true;
    const msg = String((e as Error).message ?? '');
    if (SOCKET.test(msg)) return true;
  }
  return false;
}

export interface RetryOptions {
  /** The server's address, for the message. */
  address: string;
  /** Give up after this long unreachable (ms); then the last error is thrown. */
  maxWaitMs: number;
  /** Where the "retrying" lines go; default stderr. */
  say?: (line: string) => void;
  /** Backoff bounds (ms). */
  initialMs?: number;
  maxMs?: number;
}

/** Default time a command waits for an unreachable server: LAKEFORGE_CLI_SERVER_WAIT (seconds), else `fallbackS`. */
export function serverWaitMs(fallbackS: number): number {
  const v = Number(process.env.LAKEFORGE_CLI_SERVER_WAIT);
  return (Number.isFinite(v) && v >= 0 ? v : fallbackS) * 1000;
}

const firstLine = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0];

/** Runs `fn`, retrying it with exponential backoff while the server is unreachable (other errors pass through). */
export async function withServerRetry<T>(what: string, fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  const say = o.say ?? ((l: string) => process.stderr.write(`${l}\n`));
  let delay = o.initialMs ?? 500;
  let since: number | undefined;
  for (;;) {
    try {
      const v = await fn();
      if (since !== undefined) say(`reached the server at ${o.address} again after ${Math.round((Date.now() - since) / 1000)}s; ${what} continues`);
      return v;
    } catch (err) {
      if (!isServerUnreachable(err)) throw err;
      since ??= Date.now();
      const waited = Date.now() - since;
      if (waited >= o.maxWaitMs) throw err;
      say(`cannot reach the server at ${o.address}, retrying in ${(delay / 1000).toFixed(1)}s (${what}; unreachable for ${Math.round(waited / 1000)}s): ${firstLine(err)}`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, o.maxMs ?? 10_000);
    }
  }
}
