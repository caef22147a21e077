import * as z from 'zod';
import { approvalPolicyConfig } from './approvals.ts';
import { analysisConfig } from './analysis-config.ts';
import { blueGreenConfig } from './blue-green.ts';
import { canarySettings } from './canary.ts';
import { checkEnvironment, type Endpoint } from './fleet-environment-checks.ts';
import { defaultEnvironment, environmentName, gatesConfig } from './gates.ts';
import { serviceName } from './names.ts';
import {
  databaseConfig,
  healthConfig,
  instanceConfig,
  listenAddress,
  maxInstances,
  maxSocketPathBytes,
  runtimeConfig,
} from './instance-config.ts';
import { notificationsConfig } from './notifications.ts';
import { roleSettingsFields, serviceRole } from './roles.ts';
import { cacheConfig, rampUpConfig } from './rollback-config.ts';
import { wavesConfig } from './waves.ts';

export { serviceRole, type ServiceRole } from './roles.ts';
export * from './instance-config.ts';

/**
 * The fleet file: which services exist, where their instances run, which load balancer fronts
 * them and which runtime starts them. Pure schema; loading and path resolution live in
 * src/fleet/fleet-file.ts.
 */

export const serviceConfig = z
  .object({
    role: serviceRole,
    /** Where clients reach the service through the load balancer (required for role api). */
    frontend: listenAddress.optional(),
    instances: z
      .array(instanceConfig)
      .min(1, 'a service needs at least one instance')
      .max(maxInstances, `a service may have at most ${maxInstances} instances`),
    runtime: runtimeConfig.prefault({ type: 'local' }),
    health: healthConfig.prefault({}),
    /** How long draining may wait for in-flight requests before the step fails. */
    drainTimeoutSeconds: z.number().int().min(1).max(3600).default(30),
    /** Optional: the service's database; without it, artifacts that carry migrations are refused. */
    database: databaseConfig.optional(),
    /** Optional: who may approve its deployments, with signed approvals (docs/approvals.md). */
    approvals: approvalPolicyConfig.optional(),
    /** Optional: webhooks for this service's phase changes, besides the fleet-wide ones. */
    notifications: notificationsConfig.optional(),
    /** The automatic rollback triggers' analysis (docs/analysis.md); each entry defaults to the seed's rule. */
    analysis: analysisConfig.optional(),
    /** Optional: how a rollback clears the service's caches (seed §9.2, docs/rollback.md). */
    cache: cacheConfig.optional(),
    /** How gradually a re-admitted instance gets its share of traffic (seed §8.3, docs/rollback.md). */
    rampUp: rampUpConfig.prefault({}),
    /** The strategy `zerodown deploy` uses unless --strategy says otherwise (docs/blue-green.md). */
    strategy: z.enum(['rolling', 'canary', 'blue-green']).optional(),
    /** Optional: the green slots and preview frontend of blue-green deployments (docs/blue-green.md). */
    blueGreen: blueGreenConfig.optional(),
    /** Optional: regions of its hosts, deployed in waves (docs/waves.md). */
    waves: wavesConfig.optional(),
    /** The canary's steps and instance (docs/canary.md). */
    canary: canarySettings.optional(),
    /** Per-role settings (queue, schedule, chain…): domain/roles.ts says which role takes which. */
    ...roleSettingsFields,
  })
  .strict();

export const loadBalancerConfig = z
  .object({
    type: z.literal('haproxy'),
    /**
     * Runtime API socket; defaults to <stateDir>/haproxy/admin.sock. zerodown removes it on
     * `fleet down`, so it must look like a socket's name and is only ever removed when it is one.
     */
    statsSocket: z
      .string()
      .min(1)
      .max(maxSocketPathBytes, `must be at most ${maxSocketPathBytes} characters (a Unix socket path limit)`)
      .regex(
        /^[^\s\p{Cc}]+\.sock$/u,
        'must be the path of a socket file ending in .sock, without spaces or control characters, e.g. .state/haproxy/admin.sock',
      )
      .optional(),
    /** Prometheus exporter (/metrics) and stats page (/stats). */
    metrics: listenAddress.optional(),
    /**
     * HAProxy's retries + redispatch: a safety net for unplanned failures. Turn it off to prove
     * the drain sequence alone keeps clients whole (docs/haproxy.md).
     */
    retries: z.boolean().default(true),
    binary: z.string().min(1).default('/usr/sbin/haproxy'),
  })
  .strict();

/** zerodown's own records (seed §10): PostgreSQL tables that outlive Temporal's history (docs/records.md). */
export const recordsConfig = z
  .object({
    /** A postgres:// URL; the database is created when missing and the server allows it. */
    databaseUrl: z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// or postgresql:// URL'),
    /** Records older than this move to the archive files (the seed asks for 180 days or more). */
    retentionDays: z.number().int().min(1).max(36_500).default(180),
    /** Where archived records go (gzip JSON lines); default <stateDir>/records-archive. */
    archiveDir: z.string().min(1).optional(),
    /** The last successful deployments of each service kept whatever their age: rollback targets. */
    keepSuccessful: z.number().int().min(1).max(1000).default(3),
  })
  .strict();

/** Everything in the fleet file but the services: where things are kept and which load balancer. */
export const fleetSettings = z.object({
  /** Artifact store root: `<buildsRoot>/<service>/<version>/`. */
  buildsRoot: z.string().min(1).default('.builds'),
  /** Pid files, logs, HAProxy config and socket of the local fleet. */
  stateDir: z.string().min(1).default('.state'),
  signing: z
    .object({ publicKey: z.string().min(1).default('.state/keys/zerodown.pub') })
    .strict()
    .prefault({}),
  loadBalancer: loadBalancerConfig.prefault({ type: 'haproxy' }),
  records: recordsConfig.optional(),
  /** Optional: webhooks for every service's phase changes (docs/approvals.md). */
  notifications: notificationsConfig.optional(),
});

const services = z
  .record(serviceName, serviceConfig)
  .refine((s) => Object.keys(s).length > 0, 'name at least one service');

/** One environment's fleet: the settings, its services and its gates. A file with top-level `services` is one. */
export const fleetConfig = fleetSettings
  .extend({
    services,
    /** What this environment requires before it accepts an artifact (docs/gates.md). */
    gates: gatesConfig.prefault({}),
  })
  .strict()
  .superRefine((fleet, ctx) => checkEnvironment(fleet, ctx, [], []));

/** One environment of a fleet file with `environments`: its own services and hosts, and its gates. */
export const environmentConfig = z
  .object({
    services,
    /** Its own pid files, HAProxy and releases; default `<stateDir>/<environment>`. */
    stateDir: z.string().min(1).optional(),
    /** Its own load balancer; default the file's (each environment runs its own HAProxy under its stateDir). */
    loadBalancer: loadBalancerConfig.optional(),
    gates: gatesConfig.prefault({}),
  })
  .strict();

/**
 * The fleet file: either top-level `services` (the single environment `default`, as before
 * environments existed) or `environments`, each with its own services, hosts and gates. Ports must
 * not clash across environments either: they may share a machine.
 */
export const fleetFile = fleetSettings
  .extend({
    services: services.optional(),
    gates: gatesConfig.optional(),
    environments: z
      .record(environmentName, environmentConfig)
      .refine((e) => Object.keys(e).length > 0, 'name at least one environment')
      .optional(),
  })
  .strict()
  .superRefine((file, ctx) => {
    if (file.services && file.environments)
      ctx.addIssue({
        code: 'custom',
        path: ['services'],
        message: 'give either top-level services (one environment) or environments, not both',
      });
    if (!file.services && !file.environments)
      ctx.addIssue({ code: 'custom', path: ['services'], message: 'name at least one service, or environments' });
    if (file.environments && file.gates)
      ctx.addIssue({
        code: 'custom',
        path: ['gates'],
        message: 'with environments, each environment has its own gates: move them under environments.<name>.gates',
      });
    if (!file.environments) {
      if (file.services) checkEnvironment(environmentViews(file)[defaultEnvironment]!, ctx, [], []);
      return;
    }
    if (defaultEnvironment in file.environments)
      ctx.addIssue({
        code: 'custom',
        path: ['environments', defaultEnvironment],
        message: `"${defaultEnvironment}" names the single environment of a file with top-level services; choose another name`,
      });
    const endpoints: Endpoint[] = [];
    for (const [name, view] of Object.entries(environmentViews(file))) {
      checkEnvironment(view, ctx, ['environments', name], endpoints, name);
      const from = view.gates.staging?.from;
      if (from !== undefined && (from === name || !(from in file.environments)))
        ctx.addIssue({
          code: 'custom',
          path: ['environments', name, 'gates', 'staging', 'from'],
          message:
            from === name
              ? 'an environment cannot be its own staging'
              : `no environment ${from}; the file has ${Object.keys(file.environments).join(', ')}`,
        });
    }
  });

/** Each environment of a parsed fleet file as a fleet of its own; `default` for a file with top-level services. */
export function environmentViews(file: FleetFile): Record<string, FleetConfig> {
  const { environments, services: topServices, gates, ...settings } = file;
  if (!environments)
    return {
      [defaultEnvironment]: { ...settings, services: topServices ?? {}, gates: gates ?? gatesConfig.parse({}) },
    };
  return Object.fromEntries(
    Object.entries(environments).map(([name, env]) => [
      name,
      {
        ...settings,
        stateDir: env.stateDir ?? `${settings.stateDir}/${name}`,
        loadBalancer: env.loadBalancer ?? settings.loadBalancer,
        services: env.services,
        gates: env.gates,
      },
    ]),
  );
}

export type FleetConfig = z.infer<typeof fleetConfig>;
export type FleetFile = z.infer<typeof fleetFile>;
export type EnvironmentConfig = z.infer<typeof environmentConfig>;
export type FleetSettings = z.infer<typeof fleetSettings>;
export type ServiceConfig = z.infer<typeof serviceConfig>;
export type LoadBalancerConfig = z.infer<typeof loadBalancerConfig>;
export type RecordsConfig = z.infer<typeof recordsConfig>;
