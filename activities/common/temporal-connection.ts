import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from './config.js';

/** Client connection to TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (DESIGN.md §6). */
export async function connectClient(env: NodeJS.ProcessEnv = process.env): Promise<Client> {
  const cfg = loadConfig(env);
  const connection = await Connection.connect({ address: cfg.temporalAddress });
  return new Client({ connection, namespace: cfg.temporalNamespace });
}

/** Worker-side connection to the same server. */
export async function connectWorker(env: NodeJS.ProcessEnv = process.env): Promise<NativeConnection> {
  const cfg = loadConfig(env);
  return NativeConnection.connect({ address: cfg.temporalAddress });
}
