// cluster start|stop|status|env: the local full Temporal server on PostgreSQL with mTLS (infra/cluster/cluster.mjs).
import { clusterStatus, startCluster, stopCluster } from '../../infra/cluster/cluster.mjs';
import { EXIT_FAILED, EXIT_OK } from './common.js';

const log = (m: string) => process.stderr.write(`${m}\n`);
const exports = (env: Record<string, string>) => Object.entries(env).map(([k, v]) => `export ${k}=${v}\n`).join('');

export async function clusterCommand(action: 'start' | 'stop' | 'status' | 'env', opts: { json?: boolean }): Promise<number> {
  if (action === 'start') {
    const r = await startCluster({ log });
    // stdout is the environment to eval; progress went to stderr.
    process.stdout.write(exports(r.env));
    return EXIT_OK;
  }
  if (action === 'stop') {
    await stopCluster({ log });
    return EXIT_OK;
  }
  const s = await clusterStatus();
  if (action === 'env') {
    if (!s.configured) {
      log('no cluster yet: run `lakeforge cluster start`');
      return EXIT_FAILED;
    }
    process.stdout.write(exports(s.env));
    return EXIT_OK;
  }
  if (opts.json) process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
  else if (!s.configured) process.stdout.write(`no cluster in ${s.dir}\n`);
  else {
    process.stdout.write(`Temporal cluster at ${s.env.TEMPORAL_ADDRESS}: ${s.server.listening ? 'running' : 'not running'}${s.server.pid ? ` (pid ${s.server.pid})` : ''}\n`);
    process.stdout.write(`  PostgreSQL on 127.0.0.1:${s.postgres.port}: ${s.postgres.pid ? `running (pid ${s.postgres.pid})` : 'not running'}\n`);
    process.stdout.write(`  TLS: ${s.tls ? 'mTLS (certificates in ' + s.dir + '/tls)' : 'off'}\n`);
  }
  return s.configured && s.server.listening ? EXIT_OK : EXIT_FAILED;
}
