// The kernel's first phases: parse the activity input, and resolve each upstream output to a verified publication.
import type { z } from 'zod';
import { badInput, invalidPipeline } from '../../contracts/failures.js';
import type { StepResult } from '../../contracts/step-result.js';
import { loadConfig } from '../common/config.js';
import { openLake, verifyPublished, type LakeStorage, type Manifest, type ObjectInfo, type OpenLakeOptions } from '../lake/index.js';
import { currentControl, type StepControl } from './context.js';

/** What every step kind is built with: where the lake is and how to reach the activity context. */
export interface LakeDeps {
  /** LAKEFORGE_HOME, for the staging cache; default from the environment. */
  home?: string;
  /** The lake used when an input names none; default LAKEFORGE_LAKE. */
  defaultLake?: string;
  /** GCS endpoint (an emulator); default LAKEFORGE_GCS_ENDPOINT. */
  gcsApiEndpoint?: string;
  lakeOptions?: OpenLakeOptions;
  /** Replaces the Temporal activity context (heartbeat, cancellation); default: Context.current() when there is one. */
  control?: () => StepControl;
}

export function openStepLake(deps: LakeDeps, lake: string | undefined): LakeStorage {
  const home = deps.home ?? deps.lakeOptions?.home ?? loadConfig().home;
  return openLake(lake ?? deps.defaultLake ?? loadConfig().lake, { home, gcsApiEndpoint: deps.gcsApiEndpoint, ...deps.lakeOptions });
}

export function stepControl(deps: LakeDeps): StepControl {
  return (deps.control ?? currentControl)();
}

/** Validates activity input; bad parameters are InvalidPipeline (not retried), naming the offending field. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(input);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw invalidPipeline(`invalid ${what} input: ${msg}`);
  }
  return r.data;
}

export interface ResolvedInput {
  /** Lake-relative directory of the publication. */
  rel: string;
  manifest: Manifest;
  /** The data objects its manifest lists, as they are in the lake now. */
  objects: ObjectInfo[];
}

/**
 * An upstream step's output, which must be a complete publication of exactly the version we were handed (BadInput
 * otherwise, naming the role): its manifest, and every file it lists present with its recorded size.
 */
export async function resolveInput(lake: LakeStorage, ref: StepResult, role = 'input'): Promise<ResolvedInput> {
  const rel = lake.relative(ref.uri.replace(/\/$/, ''));
  const check = await verifyPublished(lake, rel, ref.version);
  if (!check.ok) throw badInput(`${role} ${ref.uri} is not a complete publication: ${check.reason}`, { input: ref.uri, role });
  return { rel, manifest: check.manifest, objects: check.objects };
}

/** The start of every activity that is not a whole step (partition phases): its parsed input, lake and control. */
export function openActivity<T extends z.ZodType>(deps: LakeDeps, schema: T, raw: unknown, what: string): { input: z.infer<T>; lake: LakeStorage; control: StepControl } {
  const input = parseInput(schema, raw, what) as z.infer<T> & { lake?: string };
  return { input, lake: openStepLake(deps, input.lake), control: stepControl(deps) };
}
