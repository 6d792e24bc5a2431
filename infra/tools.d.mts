export declare const REPO_ROOT: string;
export declare function lakeforgeHome(env?: NodeJS.ProcessEnv): string;
export declare const GO_TOOLS: Record<string, { module: string; version: string; bin: string }>;
export declare function toolPath(name: string, env?: NodeJS.ProcessEnv): string;
export declare function ensureGoTool(name: string, opts?: { log?: (m: string) => void; env?: NodeJS.ProcessEnv }): Promise<string>;
