import { readFileSync } from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from './config.js';

/** What both the client and the workers need to reach the server (DESIGN.md §6 plus TLS and an API key). */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | true;
  apiKey?: string;
}

function readPem(env: NodeJS.ProcessEnv, name: string): Buffer {
  const path = env[name]!;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${name}=${path}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/**
 * mTLS when TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY are set (TEMPORAL_TLS_CA for a private CA,
 * TEMPORAL_TLS_SERVER_NAME when the address is not the certificate's name); TEMPORAL_API_KEY (Temporal Cloud)
 * implies TLS with the system roots. A half-set pair or an unreadable file is an error naming the variable.
 */
export function temporalConnectionOptions(env: NodeJS.ProcessEnv = process.env): TemporalConnectionOptions {
  const address = loadConfig(env).temporalAddress;
  const has = (n: string) => typeof env[n] === 'string' && env[n] !== '';
  if (has('TEMPORAL_TLS_CERT') !== has('TEMPORAL_TLS_KEY')) {
    throw new Error(`TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: only ${has('TEMPORAL_TLS_CERT') ? 'TEMPORAL_TLS_CERT' : 'TEMPORAL_TLS_KEY'} is set`);
  }
  let tls: TLSConfig | true | undefined;
  if (has('TEMPORAL_TLS_CERT') || has('TEMPORAL_TLS_CA') || has('TEMPORAL_TLS_SERVER_NAME')) {
    tls = {
      ...(has('TEMPORAL_TLS_CERT') ? { clientCertPair: { crt: readPem(env, 'TEMPORAL_TLS_CERT'), key: readPem(env, 'TEMPORAL_TLS_KEY') } } : {}),
      ...(has('TEMPORAL_TLS_CA') ? { serverRootCACertificate: readPem(env, 'TEMPORAL_TLS_CA') } : {}),
      ...(has('TEMPORAL_TLS_SERVER_NAME') ? { serverNameOverride: env.TEMPORAL_TLS_SERVER_NAME } : {}),
    };
  }
  const apiKey = has('TEMPORAL_API_KEY') ? env.TEMPORAL_API_KEY : undefined;
  if (apiKey && !tls) tls = true;
  return { address, ...(tls ? { tls } : {}), ...(apiKey ? { apiKey } : {}) };
}

/** Client connection to TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (DESIGN.md §6), with TLS / API key from the env. */
export async function connectClient(env: NodeJS.ProcessEnv = process.env): Promise<Client> {
  const cfg = loadConfig(env);
  const connection = await Connection.connect(temporalConnectionOptions(env));
  return new Client({ connection, namespace: cfg.temporalNamespace });
}

/** Worker-side connection to the same server, with the same TLS / API key. */
export async function connectWorker(env: NodeJS.ProcessEnv = process.env): Promise<NativeConnection> {
  return NativeConnection.connect(temporalConnectionOptions(env));
}
