import { readFileSync } from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { z } from 'zod';
import { loadConfig } from './config.js';

/** What both the client and the workers need to reach the server (docs/design.md#configuration, TLS and an API key included). */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | true;
  apiKey?: string;
}

/** An unset or empty variable is absent (a Kubernetes env from an empty Secret key is ""). */
const optional = z.preprocess((v) => (v === '' ? undefined : v), z.string().optional());

/**
 * The connection variables, validated together: host[:port] with no scheme, and the certificate and key as a pair.
 * Each message names its variable.
 */
export const TemporalConnectionEnvSchema = z
  .object({
    TEMPORAL_ADDRESS: z
      .string()
      .regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+)(:\d{1,5})?$/, 'must be host:port (no scheme, no path), e.g. temporal.internal:7233'),
    TEMPORAL_TLS_CERT: optional,
    TEMPORAL_TLS_KEY: optional,
    TEMPORAL_TLS_CA: optional,
    TEMPORAL_TLS_SERVER_NAME: optional,
    TEMPORAL_API_KEY: optional,
  })
  .superRefine((e, ctx) => {
    if (!!e.TEMPORAL_TLS_CERT !== !!e.TEMPORAL_TLS_KEY) {
      const only = e.TEMPORAL_TLS_CERT ? 'TEMPORAL_TLS_CERT' : 'TEMPORAL_TLS_KEY';
      ctx.addIssue({ code: 'custom', path: [only], message: `TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: only ${only} is set` });
    }
    if (e.TEMPORAL_API_KEY && /\s/.test(e.TEMPORAL_API_KEY)) {
      // A key pasted with its trailing newline would be sent as is and rejected by the server with no hint why.
      ctx.addIssue({ code: 'custom', path: ['TEMPORAL_API_KEY'], message: 'TEMPORAL_API_KEY contains whitespace (a trailing newline from the Secret?)' });
    }
  });

export type TemporalConnectionEnv = z.infer<typeof TemporalConnectionEnvSchema>;

function readPem(name: string, path: string): Buffer {
  let body: Buffer;
  try {
    body = readFileSync(path);
  } catch (err) {
    throw new Error(`${name}=${path}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  // A base64-wrapped or empty file would otherwise surface as an opaque handshake failure much later.
  if (!body.includes('-----BEGIN ')) throw new Error(`${name}=${path}: not a PEM file (no "-----BEGIN" line)`);
  return body;
}

/**
 * The one place that turns the environment into connection options, for the client (`Connection.connect`) and the
 * workers (`NativeConnection.connect`) alike. mTLS when TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY are set
 * (TEMPORAL_TLS_CA for a private CA, TEMPORAL_TLS_SERVER_NAME when the address is not the certificate's name);
 * TEMPORAL_API_KEY (Temporal Cloud) implies TLS with the system roots. A half-set pair, a bad address, or an
 * unreadable or non-PEM file is an error naming the variable.
 */
export function temporalConnectionOptions(env: NodeJS.ProcessEnv = process.env): TemporalConnectionOptions {
  const parsed = TemporalConnectionEnvSchema.safeParse({ ...env, TEMPORAL_ADDRESS: loadConfig(env).temporalAddress });
  if (!parsed.success) {
    throw new Error(parsed.error.issues
      .map((i) => (i.code === 'custom' ? i.message : `${i.path.join('.')}: ${i.message}`))
      .join('; '));
  }
  const e = parsed.data;
  let tls: TLSConfig | true | undefined;
  if (e.TEMPORAL_TLS_CERT || e.TEMPORAL_TLS_CA || e.TEMPORAL_TLS_SERVER_NAME) {
    tls = {
      ...(e.TEMPORAL_TLS_CERT && e.TEMPORAL_TLS_KEY
        ? { clientCertPair: { crt: readPem('TEMPORAL_TLS_CERT', e.TEMPORAL_TLS_CERT), key: readPem('TEMPORAL_TLS_KEY', e.TEMPORAL_TLS_KEY) } }
        : {}),
      ...(e.TEMPORAL_TLS_CA ? { serverRootCACertificate: readPem('TEMPORAL_TLS_CA', e.TEMPORAL_TLS_CA) } : {}),
      ...(e.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: e.TEMPORAL_TLS_SERVER_NAME } : {}),
    };
  }
  if (e.TEMPORAL_API_KEY && !tls) tls = true;
  return { address: e.TEMPORAL_ADDRESS, ...(tls ? { tls } : {}), ...(e.TEMPORAL_API_KEY ? { apiKey: e.TEMPORAL_API_KEY } : {}) };
}

/** Client connection to TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (docs/design.md#configuration), with TLS / API key from the env. */
export async function connectClient(env: NodeJS.ProcessEnv = process.env): Promise<Client> {
  const cfg = loadConfig(env);
  const connection = await Connection.connect(temporalConnectionOptions(env));
  return new Client({ connection, namespace: cfg.temporalNamespace });
}

/** Worker-side connection to the same server, with the same TLS / API key. */
export async function connectWorker(env: NodeJS.ProcessEnv = process.env): Promise<NativeConnection> {
  return NativeConnection.connect(temporalConnectionOptions(env));
}
