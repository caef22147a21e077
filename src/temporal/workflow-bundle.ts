import { fileURLToPath } from 'node:url';
import type { BundleOptions } from '@temporalio/worker';

const compiled = import.meta.url.endsWith('.js');

/** The module run once per sandbox before workflows load (src/workflows/sandbox-setup.ts). */
export const sandboxSetupPath = fileURLToPath(
  new URL(`../workflows/sandbox-setup${compiled ? '.js' : '.ts'}`, import.meta.url),
);

/**
 * The options every workflow bundle is made with, by the build, the worker run from the sources, the
 * test harness and the benchmarks alike. `ZERODOWN_WORKFLOW_STACK_TRACES=1` leaves the sandbox's stack
 * traces at the SDK's default (src/workflows/sandbox-setup.ts says what that costs).
 */
export function workflowBundleOptions(
  workflowsPath: string,
  env: NodeJS.ProcessEnv = process.env,
): Pick<BundleOptions, 'workflowsPath' | 'preloadModules'> {
  return {
    workflowsPath,
    preloadModules: env.ZERODOWN_WORKFLOW_STACK_TRACES === '1' ? [] : [sandboxSetupPath],
  };
}
