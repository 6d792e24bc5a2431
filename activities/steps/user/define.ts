// PLACEHOLDER from the project-package branch, so the package's exports and `lakeforge init`'s scaffold type-check.
// The integrator's define.ts (issue 11: defineStep/defineProject/pythonStep with the kernel behind them) replaces
// this file on merge; keep the exported names and the shapes below compatible with it.
import type { DuckDBConnection } from '@duckdb/node-api';
import type { z } from 'zod';

/** What a TS step's run() gets (the shape of the integrator's define.ts). */
export interface StepRunContext<P> {
  params: P;
  inputs: Record<string, { uri: string; version: string; files: string[]; relation: string }>;
  workDir: string;
  duckdb: DuckDBConnection;
  step: string;
  dataset: string;
  log: { info(msg: string, meta?: Record<string, unknown>): void; warn(msg: string, meta?: Record<string, unknown>): void };
  progress(details: Record<string, unknown>): void;
  signal: AbortSignal | undefined;
}

export interface TsStep<P = unknown> {
  runtime: 'ts';
  name: string;
  description?: string;
  params: z.ZodType<P>;
  queue?: 'etl' | 'gpu';
  version?: string;
  timeout?: string;
  heartbeatTimeout?: string;
  retry?: { maximumAttempts: number };
  conserveRows?: boolean;
  inputs?: Record<string, { kinds: string[] }>;
  run(ctx: StepRunContext<P>): Promise<{ metrics?: Record<string, number> } | void>;
}

export interface PythonStep<P = unknown> {
  runtime: 'python';
  name: string;
  description?: string;
  script: string;
  params: z.ZodType<P>;
  queue?: 'etl' | 'gpu';
  version?: string;
  timeout?: string;
  inputs?: Record<string, { kinds: string[] }>;
}

export interface ProjectConfig {
  lake?: string;
  queues?: { etl?: string; gpu?: string };
  steps: (TsStep<any> | PythonStep<any>)[];
  python?: { venv?: string };
}

export function defineStep<P>(step: Omit<TsStep<P>, 'runtime'>): TsStep<P> {
  return { ...step, runtime: 'ts' };
}

export function pythonStep<P>(step: Omit<PythonStep<P>, 'runtime'>): PythonStep<P> {
  return { ...step, runtime: 'python' };
}

export function defineProject(config: ProjectConfig): ProjectConfig {
  return config;
}
