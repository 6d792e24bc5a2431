// The activities a project's own steps add to a worker started from that project (`lakeforge worker` there).
// The built-in kinds are always served; this adds the project's steps of the worker's queue.
import type { DuckDBInstance } from '@duckdb/node-api';
import type { LoadedProject } from '../sdk/project.js';
import { createDuckDb } from '../activities/duckdb/instance.js';
import { userStepActivities, type ProjectStepDeps } from '../steps/user/activities.js';

export type ProjectQueue = 'etl' | 'gpu';
type Activities = Record<string, (...args: never[]) => Promise<unknown>>;

/** The project's step names that run on `queue` (a step without a queue runs on etl). */
export function projectStepsOn(project: LoadedProject | undefined, queue: ProjectQueue): string[] {
  if (!project) return [];
  return [...project.steps.values()].filter((s) => (s.queue ?? 'etl') === queue).map((s) => s.name);
}

/**
 * The single call site that registers a project's steps on a worker. A GPU worker has no DuckDB of its own: one is
 * made for it when the project has TypeScript steps on the GPU queue (their inputs are DuckDB views).
 */
export async function projectActivities(project: LoadedProject | undefined, queue: ProjectQueue, deps: Omit<ProjectStepDeps, 'duckdb'> & { duckdb?: DuckDBInstance }): Promise<{ activities: Activities; unserved: string[] }> {
  if (!project) return { activities: {}, unserved: [] };
  const needsDuckDb = [...project.steps.values()].some((s) => s.runtime === 'ts' && (s.queue ?? 'etl') === queue);
  const duckdb = deps.duckdb ?? (needsDuckDb ? await createDuckDb() : undefined);
  return { activities: userStepActivities(project, { ...deps, duckdb }, queue) as unknown as Activities, unserved: [] };
}
