import {
  DefaultLogger,
  Runtime,
  Worker,
  makeTelemetryFilterString,
  type LogLevel,
  type WorkerOptions,
} from '@temporalio/worker';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { connectWorker, type ConnectionSettings } from './temporal/connection.ts';
import { createLogger } from './logging.ts';

const pinoLevel: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

let runtimeInstalled = false;

/** Routes the SDK's logs, and the Rust core's forwarded logs, through pino. Once per process. */
export function installRuntimeLogging(logger: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    logger: new DefaultLogger('INFO', (entry) =>
      logger[pinoLevel[entry.level]]({ ...entry.meta, sdk: true }, entry.message),
    ),
    // On these signals every worker of the process stops polling and lets running activities finish.
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
  });
}

const compiled = !import.meta.url.endsWith('.ts');

/**
 * The workflow code the worker bundles. Beside this file: the .ts sources under tsx, the compiled
 * .js in dist/ (scripts/build.mjs); the worker's bundler takes either.
 */
export const workflowsPath = fileURLToPath(new URL(`./workflows/index${compiled ? '.js' : '.ts'}`, import.meta.url));

/**
 * What a worker runs as workflow code: the bundle the build made (dist/workflow-bundle.js) when it runs
 * compiled, so a restarted worker polls within a second instead of bundling for several; else the
 * sources, bundled at start.
 */
export function workflowCode(): Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle'> {
  const bundle = fileURLToPath(new URL('./workflow-bundle.js', import.meta.url));
  return compiled && existsSync(bundle) ? { workflowBundle: { codePath: bundle } } : { workflowsPath };
}

/** What a worker process serves. Workflow code comes from a path to bundle or a prebuilt bundle. */
export interface WorkerSettings {
  connection: ConnectionSettings;
  taskQueue: string;
  /** How long running activities may go on after SIGINT/SIGTERM before they are cancelled. */
  shutdownGraceMs: number;
  workflows: Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle'>;
  activities: object;
}

/** Connects, creates and runs a worker until a shutdown signal; running activities finish first. */
export async function runWorker(
  settings: WorkerSettings,
  logger: Logger = createLogger('zerodown-worker'),
): Promise<void> {
  installRuntimeLogging(logger);
  const connection = await connectWorker(settings.connection);
  try {
    const worker = await Worker.create({
      connection,
      namespace: settings.connection.namespace,
      taskQueue: settings.taskQueue,
      ...settings.workflows,
      activities: settings.activities,
      shutdownGraceTime: settings.shutdownGraceMs,
      // workflowFailureErrorTypes stays unset on purpose: a non-determinism error then stalls the
      // deployment (visible in the Web UI) instead of failing it half-applied; a fixed worker resumes it.
    });
    logger.info(
      { address: settings.connection.address, namespace: settings.connection.namespace, taskQueue: settings.taskQueue },
      'worker started',
    );
    await worker.run();
    logger.info('worker stopped');
  } finally {
    await connection.close();
  }
}
