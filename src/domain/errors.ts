import type * as z from 'zod';

/**
 * The catalogue of failures zerodown reports to people. Each kind maps to one CLI exit code,
 * and the message always says what happened and what to do next.
 */
export const exitCodes = {
  ok: 0,
  internal: 1,
  badInput: 2,
  unreachable: 3,
  refused: 4,
  failed: 5,
  rolledBack: 6,
} as const;

/** A kind of failure a person can act on. */
export type FailureKind = Exclude<keyof typeof exitCodes, 'ok'>;

/** An error whose message is fit to print as it is: one line, what happened, what to do. */
export class ZerodownError extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    /** What the person should do next, printed after the message. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ZerodownError';
  }

  get exitCode(): number {
    return exitCodes[this.kind];
  }
}

export const badInput = (message: string, hint?: string) => new ZerodownError('badInput', message, hint);
export const refused = (message: string, hint?: string) => new ZerodownError('refused', message, hint);
export const unreachable = (message: string, hint?: string) => new ZerodownError('unreachable', message, hint);

/** The most issues listed; a file with thousands of mistakes gets the first ones and a count. */
export const maxListedIssues = 50;

/** Formats zod-style issues as `path: message` lines, all of them at once (up to maxListedIssues). */
export function formatIssues(
  issues: ReadonlyArray<{
    path: ReadonlyArray<PropertyKey>;
    message: string;
    /** zod's invalid_key (a record key such as a service name) carries the key's own problems here. */
    issues?: ReadonlyArray<{ message: string }>;
  }>,
): string {
  const lines = issues.slice(0, maxListedIssues).map((issue) => {
    const nested = issue.issues?.map((i) => i.message).join('; ');
    return `${issue.path.length ? issue.path.map(String).join('.') : '(root)'}: ${nested ? `invalid name: ${nested}` : issue.message}`;
  });
  if (issues.length > maxListedIssues) lines.push(`… and ${issues.length - maxListedIssues} more`);
  return lines.join('\n');
}

/**
 * Validates input at a boundary (flags, arguments, files): the data, or one badInput error whose
 * message is `headline` followed by every problem as `path: message`.
 */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown, headline: string, hint?: string): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw badInput(`${headline}:\n${formatIssues(parsed.error.issues)}`, hint);
  return parsed.data;
}

/**
 * Failure types of activities and workflows (ApplicationFailure types). Permanent problems are
 * thrown as non-retryable failures of these types; transient I/O errors are left to retries.
 */
export const failureTypes = {
  invalidSpec: 'InvalidDeploymentSpec',
  artifactInvalid: 'ArtifactInvalid',
  fleetNotReady: 'FleetNotReady',
  migrationsUnverified: 'MigrationsUnverified',
  /** A migration is unsafe now (lint, contract rules) or the schema does not suit the version. */
  migrationRefused: 'MigrationRefused',
  /** A migration failed while being applied; its transaction was rolled back. */
  migrationFailed: 'MigrationFailed',
  /** The post-deployment database check (seed §8.1) failed. */
  databaseCheckFailed: 'DatabaseCheckFailed',
  drainTimeout: 'DrainTimeout',
  instanceUnhealthy: 'InstanceUnhealthy',
  readmitTimeout: 'ReadmitTimeout',
  smokeTestFailed: 'SmokeTestFailed',
  /** A gate of the environment (seed §3, docs/gates.md) refused the artifact; nothing was changed. */
  gateRefused: 'GateRefused',
  /** A restarted worker, scheduler or listener did not prove it took work again (docs/roles.md). */
  roleNotWorking: 'RoleNotWorking',
  /** A role's post-deployment check (seed §8.1: queue, tick, lag, storage) failed. */
  roleCheckFailed: 'RoleCheckFailed',
  deploymentFailed: 'DeploymentFailed',
} as const;

export type FailureType = (typeof failureTypes)[keyof typeof failureTypes];
