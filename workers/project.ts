// The activities a project's own steps add to a worker started from that project (`lakeforge worker` there).
// The built-in kinds are always served; this adds the project's steps of the worker's queue.
import type { LoadedProject } from '../cli/project.js';

export type ProjectQueue = 'etl' | 'gpu';
type Activities = Record<string, (...args: never[]) => Promise<unknown>>;

/** The project's step names that run on `queue` (a step without a queue runs on etl). */
export function projectStepsOn(project: LoadedProject | undefined, queue: ProjectQueue): string[] {
  if (!project) return [];
  return [...project.steps.values()].filter((s) => (s.queue ?? 'etl') === queue).map((s) => s.name);
}

/**
 * The single call site that registers a project's steps on a worker. INTEGRATOR: return
 * `userStepActivities(project, { queue, ...deps })` from activities/steps/user/activities.ts here; until that
 * module exists the worker serves only the built-in kinds and says so (see `unserved`).
 */
export function projectActivities(project: LoadedProject | undefined, queue: ProjectQueue, deps: Record<string, unknown>): { activities: Activities; unserved: string[] } {
  void deps;
  return { activities: {}, unserved: projectStepsOn(project, queue) };
}
