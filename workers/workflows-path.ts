import { fileURLToPath } from 'node:url';
import { extname, sep } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { PACKAGE_ROOT } from '../infra/user-root.mjs';

/**
 * The bundle entry for every worker; each queue's worker can run any lakeforge workflow. The installed package
 * bundles its compiled workflows (this file is then workflows-path.js); a checkout bundles the sources.
 */
export const WORKFLOWS_PATH = fileURLToPath(new URL(`../workflows/index${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/**
 * The SDK's bundler compiles .ts files except under node_modules; lakeforge ships its workflows as .ts, so an
 * installed lakeforge (node_modules/lakeforge) must be compiled too, while its own dependencies stay excluded.
 */
export function excludeFromTsCompile(path: string, packageRoot = PACKAGE_ROOT): boolean {
  const own = path.startsWith(packageRoot + sep) ? path.slice(packageRoot.length) : path;
  return own.split(/[\\/]/).includes('node_modules');
}

let bundle: Promise<{ code: string }> | undefined;

/** Worker options for the workflow code, bundled once per process (webpack takes seconds; several workers share it). */
export async function workflowCode(): Promise<{ workflowBundle: { code: string } }> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    webpackConfigHook: (config) => {
      for (const rule of config.module?.rules ?? []) {
        if (rule && typeof rule === 'object' && String(rule.test) === String(/\.ts$/)) rule.exclude = excludeFromTsCompile;
      }
      return config;
    },
  });
  return { workflowBundle: await bundle };
}
