type Log = (message: string) => void;
type Env = NodeJS.ProcessEnv;

export const SERVER_VERSION: string;
/** TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and, with TLS, TEMPORAL_TLS_CERT/KEY/CA/SERVER_NAME. */
export type ClusterClientEnv = Record<string, string>;
export function clusterDir(env?: Env): string;
export function postgresBin(log?: Log): string;
export function ensureCertificates(dir: string): string;
export function startCluster(opts?: { env?: Env; log?: Log }): Promise<{ started: boolean; env: ClusterClientEnv; dir: string; pid?: number }>;
export function stopCluster(opts?: { env?: Env; log?: Log }): Promise<boolean>;
export function clusterStatus(opts?: { env?: Env }): Promise<
  | { configured: false; dir: string }
  | { configured: true; dir: string; server: { pid: number | null; listening: boolean }; postgres: { pid: number | null; port: number }; tls: boolean; env: ClusterClientEnv }
>;
