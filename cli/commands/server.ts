// server start|stop|status: the local Temporal dev server (infra/temporal/server.mjs).
import { startServer, stopServer, serverStatus } from '../../infra/temporal/server.mjs';
import { EXIT_FAILED, EXIT_OK } from './common.js';

const log = (m: string) => process.stderr.write(`${m}\n`);

export async function serverCommand(action: 'start' | 'stop' | 'status', opts: { json?: boolean }): Promise<number> {
  if (action === 'start') {
    const r = await startServer({ log });
    const s = await serverStatus();
    process.stdout.write(`Temporal server ${r.started ? 'started' : 'already running'} at ${r.address}\n  Web UI: ${s.ui}\n`);
    return EXIT_OK;
  }
  if (action === 'stop') {
    await stopServer({ log });
    return EXIT_OK;
  }
  const s = await serverStatus();
  if (opts.json) process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
  else {
    process.stdout.write(`Temporal server at ${s.address}: ${s.listening ? 'running' : 'not running'}${s.pid ? ` (pid ${s.pid}, started by lakeforge)` : ''}\n`);
    if (s.listening) process.stdout.write(`  Web UI: ${s.ui}\n`);
  }
  // Scriptable: `lakeforge server status || lakeforge server start`.
  return s.listening ? EXIT_OK : EXIT_FAILED;
}
