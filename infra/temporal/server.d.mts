export declare const SEARCH_ATTRIBUTES: Record<string, string>;
export declare const MATCHER_DYNAMIC_CONFIG: string[];
export declare function portOpen(host: string, port: number, timeoutMs?: number): Promise<boolean>;
export declare function freePort(): Promise<number>;
export declare function serverHealthy(temporalBin: string, address: string): boolean;
export declare function spawnDevServer(opts: {
  temporalBin: string; ip?: string; port: number; uiPort: number | null; dbFile: string | null; logFile: string; namespace?: string;
  dynamicConfig?: Record<string, string | number | boolean>;
}): Promise<import('node:child_process').ChildProcess>;
export declare function webUiUrl(env?: NodeJS.ProcessEnv): string;
export declare function startServer(opts?: { env?: NodeJS.ProcessEnv; log?: (m: string) => void }): Promise<{ address: string; started: boolean; pid?: number }>;
export declare function stopServer(opts?: { env?: NodeJS.ProcessEnv; log?: (m: string) => void }): Promise<boolean>;
export declare function serverStatus(opts?: { env?: NodeJS.ProcessEnv }): Promise<{ address: string; listening: boolean; pid: number | null; ui: string }>;
