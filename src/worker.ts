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
import { workflowBundleOptions } from './temporal/workflow-bundle.ts';
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
export function workflowCode(): WorkflowCode {
  const bundle = fileURLToPath(new URL('./workflow-bundle.js', import.meta.url));
  if (compiled && existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  // The worker bundles the sources with the options every bundle is made with (src/temporal/workflow-bundle.ts).
  const { preloadModules } = workflowBundleOptions(workflowsPath);
  return { workflowsPath, bundlerOptions: { preloadModules } };
}

/** Workflow code for a worker: a prebuilt bundle, or sources with what their bundling takes. */
export type WorkflowCode = Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle' | 'bundlerOptions'>;

/**
 * Worker settings that bound crash recovery. A workflow task queued for a worker that was killed
 * waits on that worker's sticky queue until this timeout (10 s by default) before any other
 * worker may take it; 1 s keeps recovery within seconds, and a live worker that is merely slow
 * (it did not poll its sticky queue within 1 s) only loses its cache for that run and replays it.
 * Heartbeats go out at least every 200 ms once an activity sends them (activities/context.ts), well
 * inside the 1.5 s heartbeat timeouts of workflows/activity-policy.ts (by default the SDK sends them only
 * every 80 % of the timeout, too close to it on a loaded machine).
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
  workflows: WorkflowCode;
  /**
   * Loads the activities: called once the workflow worker's thread is starting, so that their
   * modules (the database driver, the SQL parser, the adapters) load while it does.
   */
  activities: () => Promise<object>;
  /** Work for once the workers poll (a restarted worker must not wait for it); a failure is logged. */
  afterStart?: () => Promise<void>;
}

/**
 * Connects, creates and runs the worker until a shutdown signal; running activities finish first.
 * Activities and workflows are served by two SDK workers on the same task queue. Each is created as
 * soon as it can be: the workflow worker's creation starts first, since its thread then loads the
 * workflow bundle on the other core while this one loads the activities, so a worker restarted
 * after a crash polls both queues sooner (docs/architecture.md, "The CLI and the worker, compiled").
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
    const creatingWorkflowWorker =
      settings.workflows.workflowsPath || settings.workflows.workflowBundle
        ? Worker.create({
            ...common,
            ...settings.workflows,
            // workflowFailureErrorTypes stays unset on purpose: a non-determinism error then stalls the
            // deployment (visible in the Web UI) instead of failing it half-applied; a fixed worker resumes it.
          })
        : undefined;
    // Settled at once so that its failure is never unhandled while the activities load; awaited below.
    creatingWorkflowWorker?.catch(() => undefined);
    let activityWorker: Worker;
    try {
      activityWorker = await Worker.create({ ...common, activities: await settings.activities() });
    } catch (error) {
      // Nothing polls yet: the workflow worker, if it was made, was never run.
      await creatingWorkflowWorker?.catch(() => undefined);
      throw error;
    }
    const workers = [activityWorker];
    const running = [activityWorker.run()];
    const stopAll = () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    };
    try {
      if (creatingWorkflowWorker) {
        const workflowWorker = await creatingWorkflowWorker;
        workers.push(workflowWorker);
        // A shutdown signal that came while the bundle loaded stopped the activity worker only.
        if (activityWorker.getState() === 'RUNNING') running.push(workflowWorker.run());
      }
    } catch (error) {
      // Leave nothing polling behind a worker that could not start.
      stopAll();
      await Promise.allSettled(running);
      throw error;
    }
    logger.info(
      {
        address: settings.connection.address,
        namespace: settings.connection.namespace,
        taskQueue: settings.taskQueue,
        // Since the process started: how soon a restarted worker takes up the work again.
        startMs: Math.round(performance.now()),
      },
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
