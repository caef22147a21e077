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

/**
 * Worker settings that bound crash recovery. A workflow task queued for a worker that was killed
 * waits on that worker's sticky queue until this timeout (10 s by default) before any other
 * worker may take it; 1 s keeps recovery within seconds, and a live worker that is merely slow
 * (it did not poll its sticky queue within 1 s) only loses its cache for that run and replays it.
 * Heartbeats go out at least every 200 ms, well inside the 1 s heartbeat timeouts of
 * workflows/proxies.ts (by default the SDK sends them only every 80 % of the timeout, too close to
 * it on a loaded machine).
 */
export const recoveryTuning = {
  stickyQueueScheduleToStartTimeout: '1s',
  maxHeartbeatThrottleInterval: '200ms',
} satisfies Partial<WorkerOptions>;

/** What a worker process serves. Workflow code comes from a path to bundle or a prebuilt bundle. */
export interface WorkerSettings {
  connection: ConnectionSettings;
  taskQueue: string;
  /** How long running activities may go on after SIGINT/SIGTERM before they are cancelled. */
  shutdownGraceMs: number;
  workflows: Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle'>;
  activities: object;
  /** Work for once the workers poll (a restarted worker must not wait for it); a failure is logged. */
  afterStart?: () => Promise<void>;
}

/**
 * Connects, creates and runs the worker until a shutdown signal; running activities finish first.
 * Activities and workflows are served by two SDK workers on the same task queue: the activity
 * worker polls at once, while building the workflow bundle takes seconds (more on a busy host).
 * A worker restarted after a crash so takes up the interrupted activity without that delay.
 */
export async function runWorker(
  settings: WorkerSettings,
  logger: Logger = createLogger('zerodown-worker'),
): Promise<void> {
  installRuntimeLogging(logger);
  const connection = await connectWorker(settings.connection);
  const common = {
    connection,
    namespace: settings.connection.namespace,
    taskQueue: settings.taskQueue,
    shutdownGraceTime: settings.shutdownGraceMs,
    ...recoveryTuning,
  };
  try {
    const workers = [await Worker.create({ ...common, activities: settings.activities })];
    const running = [workers[0]!.run()];
    const stopAll = () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    };
    try {
      if (settings.workflows.workflowsPath || settings.workflows.workflowBundle) {
        const workflowWorker = await Worker.create({
          ...common,
          ...settings.workflows,
          // workflowFailureErrorTypes stays unset on purpose: a non-determinism error then stalls the
          // deployment (visible in the Web UI) instead of failing it half-applied; a fixed worker resumes it.
        });
        workers.push(workflowWorker);
        // A shutdown signal that came while the bundle was built stopped the activity worker only.
        if (workers[0]!.getState() === 'RUNNING') running.push(workflowWorker.run());
      }
    } catch (error) {
      // Leave nothing polling behind a worker that could not start.
      stopAll();
      await Promise.allSettled(running);
      throw error;
    }
    logger.info(
      { address: settings.connection.address, namespace: settings.connection.namespace, taskQueue: settings.taskQueue },
      'worker started',
    );
    settings.afterStart?.().catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      logger.error({ error: message }, 'what follows the worker start failed; it is tried again at the next start');
    });
    // When either stops (a signal stops both; a failure only one), the other stops too.
    const results = await Promise.allSettled(running.map((run) => run.finally(stopAll)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    logger.info('worker stopped');
  } finally {
    await connection.close();
  }
}
