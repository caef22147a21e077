import * as z from 'zod';
import { hostName, instanceName } from './names.ts';

/**
 * The parts of a service in the fleet file that say where its instances run and how they are
 * started and checked: instances, health endpoints, runtimes and the service's database.
 * src/domain/fleet-config.ts puts them together with the rest of the file.
 */

const port = z.number().int().min(1).max(65535);

/** More instances than this is a mistake (or an attack on the parser), not a fleet this tool drives. */
export const maxInstances = 1000;

/** Unix socket paths are limited to 107 bytes; HAProxy adds a suffix while it binds. */
export const maxSocketPathBytes = 104;
const urlPath = z.string().regex(/^\/[\x21-\x7e]*$/, 'must be an absolute URL path such as /api/health/readiness');

/** An address:port to listen on or connect to. */
export const listenAddress = z.object({ address: z.string().min(1).default('127.0.0.1'), port }).strict();

/** One running copy of a service. */
export const instanceConfig = z
  .object({
    /** Unique across the fleet; also the load balancer's server name. */
    name: instanceName,
    /** The host it runs on; its activities run on that host's worker. */
    host: hostName.default('local'),
    address: z.string().min(1).default('127.0.0.1'),
    port,
  })
  .strict();

/** The seed's three health endpoints (§4.2) and how the load balancer probes readiness. */
export const healthConfig = z
  .object({
    liveness: urlPath.default('/api/health/liveness'),
    readiness: urlPath.default('/api/health/readiness'),
    status: urlPath.default('/api/health/status'),
    /** Interval of the load balancer's readiness check. */
    checkIntervalMs: z.number().int().min(100).max(60_000).default(1000),
    /**
     * Interval of the load balancer's checks while an instance's health is changing or down (HAProxy
     * `fastinter`/`downinter`), so re-admission after a restart waits for `rise` checks at this pace.
     */
    fastCheckIntervalMs: z.number().int().min(10).max(60_000).default(50),
    /** Consecutive passing checks before the load balancer counts an instance up. */
    rise: z.number().int().min(1).max(10).default(2),
    /** Consecutive failing checks before the load balancer counts an instance down. */
    fall: z.number().int().min(1).max(10).default(2),
  })
  .strict();

/** An argv list run without a shell; `{service}`, `{instance}`, `{version}`… are substituted per element. */
export const commandLine = z.array(z.string().min(1)).min(1, 'must name a program to run');

/** Instances are processes on this machine, started detached from the artifact directory. */
export const localRuntimeConfig = z
  .object({
    type: z.literal('local'),
    /** Run with the artifact directory as working directory; `node` means this Node binary. */
    command: commandLine.default(['node', 'build/server.mjs']),
  })
  .strict();

/** Instances are managed by the user's own commands (systemd, ssh, …), one per lifecycle step. */
export const hookRuntimeConfig = z
  .object({
    type: z.literal('hooks'),
    stop: commandLine,
    install: commandLine,
    start: commandLine,
    /** Optional extra check after start; the health endpoints are always checked as well. */
    validate: commandLine.optional(),
    timeoutSeconds: z.number().int().min(1).max(3600).default(120),
  })
  .strict();

/**
 * Hollow instances, for the scale benchmark only (docs/scale.md): one process serves every
 * instance's port and is steered through its control channel at `control`.
 */
export const hollowRuntimeConfig = z.object({ type: z.literal('hollow'), control: listenAddress }).strict();

export const runtimeConfig = z.discriminatedUnion('type', [localRuntimeConfig, hookRuntimeConfig, hollowRuntimeConfig]);

/** The service's PostgreSQL, whose schema deployments migrate and verify (seed §6, §8.1). */
export const databaseConfig = z
  .object({
    /** A postgres:// connection URL; the password may come from PGPASSWORD instead of the URL. */
    url: z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// or postgresql:// URL'),
  })
  .strict();

export type InstanceConfig = z.infer<typeof instanceConfig>;
export type HealthConfig = z.infer<typeof healthConfig>;
export type RuntimeConfig = z.infer<typeof runtimeConfig>;
export type HookRuntimeConfig = z.infer<typeof hookRuntimeConfig>;
export type LocalRuntimeConfig = z.infer<typeof localRuntimeConfig>;
export type HollowRuntimeConfig = z.infer<typeof hollowRuntimeConfig>;
export type DatabaseConfig = z.infer<typeof databaseConfig>;
