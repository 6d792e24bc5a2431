// A user's lakeforge project: the nearest lakeforge.config.ts (or .json) at or above the current directory.
// findProject() locates it; loadProject() imports it (the CLI runs under tsx, so a .ts config needs no build) and
// checks its shape, naming the file and the field at fault. useProject() is what the CLI commands call.
import { existsSync, readFileSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { findProjectConfig, PROJECT_CONFIG_FILES } from '../infra/user-root.mjs';
import { isStepKind } from '../steps/registry.js';
import type { ProjectConfig, UserStep } from '../steps/user/define.js';

export interface LoadedProject {
  /** The project root: user files (sql/, steps/, pipelines/, .lakeforge/) resolve against it. */
  root: string;
  configFile: string;
  config: ProjectConfig;
  /** The lake URI the config names (made absolute), if it names one. */
  lake?: string;
  /** The project's own steps by name. */
  steps: Map<string, UserStep>;
}

/** A bad project config; the CLI recognises it by name (exit 2, one line), as it does InvalidPipeline. */
export class InvalidProjectError extends Error {
  override readonly name = 'InvalidProject';
  /** The CLI's exit code for invalid input. */
  readonly exitCode = 2;
  constructor(readonly file: string, readonly field: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${field ? `${field}: ` : ''}${message}`, options);
  }
}

/** The nearest project at or above `cwd`: its root and config file, or undefined outside any project. */
export function findProject(cwd = process.cwd()): { dir: string; configFile: string } | undefined {
  const found = findProjectConfig(cwd);
  return found && { dir: found.dir, configFile: found.file };
}

const stepName = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'use lowercase letters, digits, "-" and "_", starting with a letter')
  .refine((n) => !isStepKind(n), { error: (iss) => `${JSON.stringify(iss.input)} is a built-in step kind; give your step another name` });
const zodSchema = z.custom<z.ZodType>((v) => v instanceof z.ZodType || typeof (v as { safeParse?: unknown })?.safeParse === 'function', 'a zod schema (z.object({…}))');
const fn = z.custom<(...a: unknown[]) => unknown>((v) => typeof v === 'function', 'a function');
const queue = z.enum(['etl', 'gpu']).optional();

const StepShape = z.discriminatedUnion('runtime', [
  z.looseObject({ runtime: z.literal('ts'), name: stepName, params: zodSchema, queue, run: fn }),
  z.looseObject({ runtime: z.literal('python'), name: stepName, params: zodSchema, queue, script: z.string().min(1) }),
], { error: 'a step made with defineStep({...}) or pythonStep({...})' });

const ProjectShape = z.strictObject({
  lake: z.string().min(1).optional(),
  queues: z.strictObject({ etl: z.string().min(1).optional(), gpu: z.string().min(1).optional() }).optional(),
  steps: z.array(StepShape).default([]),
  python: z.strictObject({ venv: z.string().min(1).optional() }).optional(),
});

/** A config's `lake`: a URI as is; a path relative to the project root. */
function lakeUri(dir: string, lake: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(lake)) return lake;
  return pathToFileURL(isAbsolute(lake) ? lake : resolve(dir, lake)).href;
}

let tsLoader: Promise<void> | undefined;

/**
 * Imports a project's module. Compiled lakeforge (the installed package) runs on plain Node, which cannot load
 * TypeScript: tsx's loader is registered for the project's .ts files, once, on first need. In a checkout lakeforge
 * itself runs under tsx (or vitest), which loads them already.
 */
async function importUserModule(file: string): Promise<unknown> {
  if (/\.[mc]?ts$/.test(file) && import.meta.url.endsWith('.js')) {
    tsLoader ??= import('tsx/esm/api').then(({ register }) => { register(); });
    await tsLoader;
  }
  return import(pathToFileURL(file).href);
}

/** Imports `<dir>/lakeforge.config.ts|json` and validates it. A .json config lists step modules by path. */
export async function loadProject(dir: string): Promise<LoadedProject> {
  const name = PROJECT_CONFIG_FILES.find((f) => existsSync(join(dir, f)));
  if (!name) throw new InvalidProjectError(dir, '', `no ${PROJECT_CONFIG_FILES.join(' or ')} here (create one with \`lakeforge init\`)`);
  const configFile = join(dir, name);
  let raw: unknown;
  try {
    if (name.endsWith('.json')) {
      const json = JSON.parse(readFileSync(configFile, 'utf8')) as { steps?: unknown };
      raw = { ...json, steps: await importStepModules(dir, configFile, json.steps) };
    } else {
      raw = ((await importUserModule(configFile)) as { default?: unknown }).default;
      if (raw === undefined) throw new InvalidProjectError(basename(configFile), '', 'has no default export (export default defineProject({...}))');
    }
  } catch (err) {
    if (err instanceof InvalidProjectError) throw err;
    throw new InvalidProjectError(configFile, '', `cannot load it: ${(err as Error).message}`, { cause: err });
  }
  const parsed = ProjectShape.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidProjectError(configFile, issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '['), issue.message);
  }
  const config = parsed.data as unknown as ProjectConfig;
  const steps = new Map<string, UserStep>();
  (config.steps ?? []).forEach((s, i) => {
    if (steps.has(s.name)) throw new InvalidProjectError(configFile, `steps[${i}].name`, `duplicate step name ${JSON.stringify(s.name)}`);
    steps.set(s.name, s);
  });
  return { root: dir, configFile, config, lake: config.lake ? lakeUri(dir, config.lake) : undefined, steps };
}

async function importStepModules(dir: string, configFile: string, steps: unknown): Promise<unknown[]> {
  if (steps === undefined) return [];
  if (!Array.isArray(steps)) throw new InvalidProjectError(configFile, 'steps', 'a list of step module paths, e.g. ["steps/dedupe.ts"]');
  return Promise.all(steps.map(async (p, i) => {
    if (typeof p !== 'string') throw new InvalidProjectError(configFile, `steps[${i}]`, 'a step module path relative to the project');
    const mod = (await importUserModule(resolve(dir, p))) as { default?: unknown };
    return mod.default;
  }));
}

let current: Promise<LoadedProject | undefined> | undefined;

/**
 * The project around the current directory (loaded once per process), or undefined outside one. Also points the
 * environment at it — LAKEFORGE_PROJECT_DIR, and LAKEFORGE_LAKE and the task queues from the config unless already
 * set (the environment wins) — so the config defaults, workers and tools this process starts all agree.
 */
export function useProject(cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): Promise<LoadedProject | undefined> {
  current ??= (async () => {
    const found = findProject(cwd);
    if (!found) return undefined;
    const project = await loadProject(found.dir);
    env.LAKEFORGE_PROJECT_DIR ??= project.root;
    if (project.lake) env.LAKEFORGE_LAKE ??= project.lake;
    if (project.config.queues?.etl) env.LAKEFORGE_ETL_TASK_QUEUE ||= project.config.queues.etl;
    if (project.config.queues?.gpu) env.LAKEFORGE_GPU_TASK_QUEUE ||= project.config.queues.gpu;
    return project;
  })();
  return current;
}

/**
 * The one place a loaded project reaches startPipeline and createPipelineSchedule (cli/commands/pipeline.ts and
 * schedule.ts both go through it): it travels as `project`, which the SDK turns into the run's user kinds and SQL
 * sources.
 */
export function withProject<T extends object>(opts: T, project: LoadedProject | undefined): T & { project?: LoadedProject } {
  return project ? { ...opts, project } : opts;
}
