import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';

/** The bundle entry for every worker; each queue's worker can run any lakeforge workflow. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

let bundle: Promise<{ code: string }> | undefined;

/** Worker options for the workflow code, bundled once per process (webpack takes seconds; several workers share it). */
export async function workflowCode(): Promise<{ workflowBundle: { code: string } }> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH });
  return { workflowBundle: await bundle };
}
