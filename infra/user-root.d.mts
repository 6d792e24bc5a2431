export declare const PACKAGE_ROOT: string;
export declare const PROJECT_CONFIG_FILES: string[];
export declare function isInstalledPackage(root?: string): boolean;
export declare function findProjectConfig(from?: string): { dir: string; file: string } | undefined;
export declare function userRoot(env?: NodeJS.ProcessEnv, cwd?: string): string;
