export declare const K8S_VERSION: string;
export declare const SCHEMA_SOURCES: {
  kubernetes: { pypi: string; version: string; wheel: string; sha256: string };
  keda: { module: string; version: string; crds: string[] };
};
export declare const MANIFESTS_DIR: string;
export declare function schemasDir(env?: NodeJS.ProcessEnv): string;
export declare function standaloneSchema(kindSchema: object, definitions: Record<string, object>): object;
export declare function crdSchemaToJsonSchema(node: unknown, strict?: boolean): unknown;
export declare function ensureK8sSchemas(opts?: { log?: (m: string) => void; env?: NodeJS.ProcessEnv }): Promise<string>;
export declare function kubeconformArgs(schemas: string): string[];
export declare function manifestFiles(dir?: string): string[];

export interface KubeconformResource {
  filename: string;
  kind: string;
  name: string;
  version: string;
  status: 'statusValid' | 'statusInvalid' | 'statusError' | 'statusSkipped' | 'statusEmpty';
  msg: string;
  validationErrors?: { path: string; msg: string }[];
}
export interface KubeconformReport {
  resources: KubeconformResource[];
  summary: { valid: number; invalid: number; errors: number; skipped: number };
}
export declare function validateManifests(
  files?: string[],
  opts?: { log?: (m: string) => void; env?: NodeJS.ProcessEnv },
): Promise<{ code: number | null; report: KubeconformReport; stderr: string }>;
