import type { HealthConfig, ServiceRole } from '../domain/fleet-config.ts';

/**
 * What zerodown needs from whatever runs a service's instances. Implementations:
 * local-runtime.ts (processes on this machine), hook-runtime.ts (the user's own commands) and,
 * for the scale benchmark only, hollow-runtime.ts (many ports served by one process, docs/scale.md).
 * Every operation is idempotent: starting a running instance or stopping a stopped one is a no-op.
 */

/** One instance, with everything a runtime needs to find and manage it. */
export interface InstanceRef {
  service: string;
  role: ServiceRole;
  instance: string;
  host: string;
  address: string;
  port: number;
  health: HealthConfig;
  /**
   * The role's settings from the fleet file, plus `databaseUrl` and `storageDir` when the service
   * declares them (docs/roles.md); handed to the instance as ZERODOWN_ROLE_SETTINGS.
   */
  settings?: Record<string, unknown>;
}

/** What an instance reports about itself on its status endpoint. */
export interface InstanceReport {
  version: string;
  ready: boolean;
  uptimeSeconds: number | undefined;
  inFlight: number | undefined;
  raw: Record<string, unknown>;
}

/** An instance as the runtime sees it. */
export interface RuntimeInstanceView {
  instance: string;
  /** The version installed (what a start would run), if the runtime knows it. */
  installedVersion: string | undefined;
  running: boolean;
  pid: number | undefined;
  /** What the running instance itself says; undefined when it does not answer. */
  report: InstanceReport | undefined;
}

/** What `inspect` reads besides the process and what it reports. */
export interface InspectOptions {
  /**
   * Read what is installed (the default). False leaves `installedVersion` undefined: the fleet
   * watch and a restart's decision need only what runs, and a runtime may pay for the install
   * record (a file read, or a hook's).
   */
  installed?: boolean;
}

export interface StopOptions {
  /** How long to wait for a graceful exit before killing the instance. */
  timeoutMs: number;
}

/**
 * How a stop ended: the process was not running, exited within the grace period, or ignored
 * SIGTERM and was killed when the grace ran out (its in-flight work may have been cut off).
 */
export type StopOutcome = 'not-running' | 'exited' | 'killed';

export interface InstanceRuntime {
  /** Put the artifact of `version` in place for this instance (does not restart it). */
  install(ref: InstanceRef, version: string): Promise<void>;
  /** Start the installed version; resolves once the instance answers its liveness endpoint. */
  start(ref: InstanceRef): Promise<RuntimeInstanceView>;
  /**
   * Stop gracefully (SIGTERM or the stop hook), waiting up to `timeoutMs`. Says how it ended when
   * the runtime can tell (a stop hook cannot: it resolves to nothing).
   */
  stop(ref: InstanceRef, options: StopOptions): Promise<StopOutcome | void>;
  /** Stop, then start the installed version. */
  restart(ref: InstanceRef, options: StopOptions): Promise<RuntimeInstanceView>;
  /** What is installed and running; the version is read back from the instance itself. */
  inspect(ref: InstanceRef, options?: InspectOptions): Promise<RuntimeInstanceView>;
}
