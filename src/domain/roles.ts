import * as z from 'zod';

/**
 * The four kinds of service (seed §7) and what differs between them: their settings in the fleet
 * file, how many instances a zero-downtime deployment needs, and how zerodown judges that an
 * instance took work again after a restart. Pure; the contract with the instances is docs/roles.md.
 */

/** What a service does; only `api` instances sit behind the load balancer (seed §5.2, §7). */
export const serviceRole = z.enum(['api', 'worker', 'scheduler', 'listener']);
export type ServiceRole = z.infer<typeof serviceRole>;

const redisUrl = z
  .string({ error: 'a worker needs the Redis URL of its queue, e.g. redis://127.0.0.1:6379' })
  .regex(/^rediss?:\/\/\S+$/, 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379');

/** A worker's BullMQ queue. */
export const queueConfig = z
  .object({
    name: z
      .string({ error: 'a worker needs the name of its queue' })
      .regex(/^[A-Za-z0-9][\w.-]{0,99}$/, 'must be a queue name of letters, digits, dots, dashes and underscores'),
    redisUrl,
  })
  .strict();

/** A scheduler's clock: one tick per slot of `intervalMs`, and what happens to slots nobody ran. */
export const scheduleConfig = z
  .object({
    intervalMs: z.number().int().min(100).max(86_400_000),
    /** Slots with no holder during a hand-over: run each once afterwards (marked late), or skip and log them. */
    missedSlots: z.enum(['run-once', 'skip']).default('run-once'),
  })
  .strict();

/** The EVM chain a listener follows. */
export const chainConfig = z
  .object({
    /** Optional here so that its absence is reported with the service's other problems (roleIssues). */
    rpcUrl: z
      .string()
      .regex(/^(https?|wss?):\/\/\S+$/, 'must be an http://, https://, ws:// or wss:// URL of the JSON-RPC endpoint')
      .optional(),
    /** Blocks this deep under the head are final enough to process. */
    confirmations: z.number().int().min(0).max(1000).default(2),
    /** Only logs of this contract; all logs when absent. */
    contract: z
      .string()
      .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte address')
      .optional(),
    /** How far behind the confirmed head the listener may be once it caught up after a restart. */
    maxLagBlocks: z.number().int().min(1).max(10_000).default(5),
  })
  .strict();

/** Where a listener keeps its checkpoint: a table in the service's database. */
export const checkpointConfig = z
  .object({
    table: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL table name')
      .default('zd_listener_checkpoint'),
  })
  .strict();

/** The role settings a service may carry in the fleet file, each valid for one role only. */
export const roleSettingsFields = {
  /** worker: the BullMQ queue it consumes. */
  queue: queueConfig.optional(),
  /** worker: jobs one instance runs at once. */
  concurrency: z.number().int().min(1).max(1000).optional(),
  /** scheduler: the interval and the missed-slot rule. */
  schedule: scheduleConfig.optional(),
  /** listener: the chain it follows. */
  chain: chainConfig.optional(),
  /** listener: where its checkpoint lives. */
  checkpoint: checkpointConfig.optional(),
  /** Any role: the folder where the service keeps its files (the §8.1 storage probe writes there). */
  storageDir: z.string().min(1).optional(),
};

/** Which settings belong to which role (anything else on a service of that role is a mistake). */
export const settingsOfRole: Record<ServiceRole, readonly (keyof typeof roleSettingsFields)[]> = {
  api: ['storageDir'],
  worker: ['queue', 'concurrency', 'storageDir'],
  scheduler: ['schedule', 'storageDir'],
  listener: ['chain', 'checkpoint', 'storageDir'],
};

/** The fleet-file fields a role's check reads (a service as far as roles care). */
export interface RoleServiceFields {
  role: ServiceRole;
  frontend?: unknown;
  database?: { url: string } | undefined;
  queue?: z.infer<typeof queueConfig> | undefined;
  concurrency?: number | undefined;
  schedule?: z.infer<typeof scheduleConfig> | undefined;
  chain?: z.infer<typeof chainConfig> | undefined;
  checkpoint?: z.infer<typeof checkpointConfig> | undefined;
  storageDir?: string | undefined;
}

/** One fleet-file mistake about roles, as a path under the service and a message. */
export interface RoleIssue {
  path: (string | number)[];
  message: string;
}

/**
 * The impossible combinations, refused before anything starts: a worker with no queue, a
 * scheduler or listener with no database, a listener with no chain, a frontend on anything but
 * an api service, and another role's settings.
 */
export function roleIssues(service: RoleServiceFields): RoleIssue[] {
  const issues: RoleIssue[] = [];
  const { role } = service;
  if (role !== 'api' && service.frontend !== undefined)
    issues.push({
      path: ['frontend'],
      message: `only an api service has a frontend; a ${role} takes its work from ${workSource[role]}, not from the load balancer: remove the frontend`,
    });
  if (role === 'worker' && !service.queue)
    issues.push({ path: ['queue'], message: 'a worker needs a queue: { name, redisUrl }' });
  if (role === 'listener' && !service.chain)
    issues.push({ path: ['chain'], message: 'a listener needs a chain: { rpcUrl, confirmations }' });
  else if (role === 'listener' && !service.chain?.rpcUrl)
    issues.push({
      path: ['chain', 'rpcUrl'],
      message: "a listener needs the chain's RPC URL, e.g. http://127.0.0.1:8545",
    });
  if (role === 'scheduler' && !service.schedule)
    issues.push({ path: ['schedule'], message: 'a scheduler needs a schedule: { intervalMs, missedSlots }' });
  if ((role === 'scheduler' || role === 'listener') && !service.database)
    issues.push({
      path: ['database'],
      message: `a ${role} needs a database: { url } (${role === 'scheduler' ? 'its lease and ticks' : 'its checkpoint and events'} live in PostgreSQL)`,
    });
  for (const field of Object.keys(roleSettingsFields) as (keyof typeof roleSettingsFields)[]) {
    if (service[field] !== undefined && !settingsOfRole[role].includes(field))
      issues.push({
        path: [field],
        message: `${field} is a setting of the ${rolesWith(field)} role, not of ${role}: remove it or change the role`,
      });
  }
  return issues;
}

const workSource: Record<ServiceRole, string> = {
  api: 'the load balancer',
  worker: 'its queue',
  scheduler: 'its clock',
  listener: 'the chain',
};

const rolesWith = (field: keyof typeof roleSettingsFields) =>
  serviceRole.options.filter((r) => settingsOfRole[r].includes(field)).join(' or ');

/**
 * Fewest instances a zero-downtime deployment of the role needs. An api service and a worker
 * pool need two, so one keeps serving or consuming while the other restarts; a scheduler two, an
 * active and a standby that takes over the lease; a single listener is accepted: its work waits
 * on the chain, and the new version resumes at the checkpoint, so a restart delays events but
 * loses none.
 */
export function minInstances(role: ServiceRole): number {
  return role === 'listener' ? 1 : 2;
}

/**
 * Whether a batch may take every instance at once. Only for a single listener: there is no
 * other instance to keep working, and its restart loses nothing (see minInstances).
 */
export function mayTakeEveryInstance(role: ServiceRole, instances: number): boolean {
  return role === 'listener' && instances === 1;
}

/** What the settings JSON (ZERODOWN_ROLE_SETTINGS) holds for an instance: docs/roles.md. */
export function roleSettingsJson(
  service: RoleServiceFields & { drainTimeoutSeconds?: number },
): Record<string, unknown> {
  const pick = Object.fromEntries(
    settingsOfRole[service.role].flatMap((f) => (service[f] !== undefined ? [[f, service[f]]] : [])),
  );
  return {
    ...pick,
    ...(service.role === 'worker' ? { concurrency: service.concurrency ?? 10 } : {}),
    ...(service.role === 'listener' ? { checkpoint: service.checkpoint ?? { table: 'zd_listener_checkpoint' } } : {}),
    ...(service.drainTimeoutSeconds !== undefined ? { drainTimeoutSeconds: service.drainTimeoutSeconds } : {}),
    ...(service.database ? { databaseUrl: service.database.url } : {}),
  };
}

const count = z.coerce.number().int().min(0);
const block = z.coerce.number().int().min(0);

/** A worker's own figures on its status endpoint (docs/roles.md). */
export const workerStatus = z.looseObject({
  processed: count.default(0),
  failed: count.default(0),
  active: count.default(0),
  consuming: z.boolean().optional(),
});

/** A scheduler's own figures. */
export const schedulerStatus = z.looseObject({
  enabled: z.boolean().optional(),
  leader: z.boolean().optional(),
  fencingToken: z.coerce.number().nullish(),
  running: z.boolean().optional(),
  lastSlot: z.coerce.number().nullish(),
  ticks: count.default(0),
});

/** The last block a listener processed, with its hash. */
export const listenerCheckpoint = z.object({ block, hash: z.string() });
export type ListenerCheckpoint = z.infer<typeof listenerCheckpoint>;

/** A listener's own figures. */
export const listenerStatus = z.looseObject({
  checkpoint: listenerCheckpoint.nullish(),
  head: block.nullish(),
  lag: z.coerce.number().nullish(),
  firstBlock: block.nullish(),
  processedBlocks: count.default(0),
  processedEvents: count.default(0),
});

/** What a non-api instance reports on its status endpoint, as zerodown reads it. */
export const roleReport = z.looseObject({
  version: z.string(),
  ready: z.boolean().default(false),
  quiesced: z.boolean().default(false),
  inFlight: z.number().int().min(0).default(0),
  roleStatus: z.record(z.string(), z.unknown()).default({}),
});
export type RoleReport = z.infer<typeof roleReport>;

/** The per-role figures `status` and the live view show for one instance, in a few words. */
export function roleFigures(role: ServiceRole, roleStatus: unknown): string | undefined {
  switch (role) {
    case 'api':
      return undefined;
    case 'worker': {
      const s = workerStatus.safeParse(roleStatus);
      return s.success
        ? `jobs ${s.data.processed} done, ${s.data.active} active, ${s.data.failed} failed${s.data.consuming === false ? ', paused' : ''}`
        : undefined;
    }
    case 'scheduler': {
      const s = schedulerStatus.safeParse(roleStatus);
      if (!s.success) return undefined;
      const state = s.data.enabled === false ? 'disabled' : s.data.leader ? 'leader' : 'standby';
      return `${state}, ${s.data.ticks} ticks${s.data.lastSlot != null ? `, last slot ${s.data.lastSlot}` : ''}`;
    }
    case 'listener': {
      const s = listenerStatus.safeParse(roleStatus);
      if (!s.success) return undefined;
      const at = s.data.checkpoint ? `block ${s.data.checkpoint.block}` : 'no checkpoint';
      return `${at}${s.data.lag != null ? `, lag ${s.data.lag}` : ''}, ${s.data.processedEvents} events`;
    }
    default: {
      const unknown: never = role;
      return String(unknown);
    }
  }
}
