import * as z from 'zod';

/**
 * The gates before a deployment (seed §3): what an environment requires of an artifact before any
 * instance changes, and what each gate found. Pure: the checks themselves live in src/gates/.
 * docs/gates.md explains each gate and its evidence.
 */

/** An environment's name; `default` is the one environment of a fleet file with top-level `services`. */
export const environmentName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,30}$/, 'must be lower-case letters, digits and dashes, starting with a letter');

/** The environment of a fleet file without `environments`: its workflow ids and queues carry no suffix. */
export const defaultEnvironment = 'default';

/** The gates, in the order they run and are reported. */
export const gateNames = ['build-checks', 'reviews', 'dependencies', 'ci', 'staging'] as const;
export type GateName = (typeof gateNames)[number];

const timeoutSeconds = z.number().int().min(1).max(300).default(30);

/**
 * Something that answers a question about an artifact: a program (argv, run without a shell) or an
 * HTTP(S) URL. `{service}`, `{version}`, `{commit}`, `{digest}` and `{environment}` are substituted.
 */
export const probeConfig = z.union([
  z.object({ command: z.array(z.string().min(1)).min(1, 'must name a program to run'), timeoutSeconds }).strict(),
  z
    .object({
      url: z.string().regex(/^https?:\/\/\S+$/, 'must be an http:// or https:// URL'),
      timeoutSeconds,
    })
    .strict(),
]);
export type ProbeConfig = z.infer<typeof probeConfig>;

/** What an environment requires before it accepts an artifact. Every gate is off unless named here. */
export const gatesConfig = z
  .object({
    /** Commands (as given to `artifact build --check`) that must be recorded as passed in the signed metadata. */
    requiredChecks: z.array(z.string().min(1)).default([]),
    /** Distinct reviewers recorded in the commit metadata at build time. */
    reviews: z.number().int().min(0).max(50).default(0),
    /** The lockfile's hash recorded at build time must match the packaged lockfile and dependencies. */
    dependencies: z.boolean().default(false),
    /** External CI: answers pass or fail for the artifact's commit. */
    ci: probeConfig.optional(),
    /**
     * Seed §3.2: only a digest zerodown deployed to `from` with a passing post-deployment validation,
     * still healthy there now, while `alerts` reports no critical alert.
     */
    staging: z
      .object({
        from: environmentName.default('staging'),
        alerts: probeConfig,
      })
      .strict()
      .optional(),
  })
  .strict();
export type GatesConfig = z.infer<typeof gatesConfig>;

/** The gates an environment turns on, in the order they run. */
export function requiredGates(gates: GatesConfig): GateName[] {
  return gateNames.filter((name) => {
    switch (name) {
      case 'build-checks':
        return gates.requiredChecks.length > 0;
      case 'reviews':
        return gates.reviews > 0;
      case 'dependencies':
        return gates.dependencies;
      case 'ci':
        return gates.ci !== undefined;
      case 'staging':
        return gates.staging !== undefined;
      default: {
        const unknown: never = name;
        return unknown;
      }
    }
  });
}

/** What one gate found: passed or not, one line saying why, and the evidence it rests on. */
export const gateResult = z.object({
  gate: z.enum(gateNames),
  passed: z.boolean(),
  summary: z.string(),
  /** Facts, one per line, e.g. `check "npm test": exit 0 in 5210 ms`. */
  evidence: z.array(z.string()),
});
export type GateResult = z.infer<typeof gateResult>;

/** Every gate's result for one artifact, and the artifact they were judged on. */
export interface GateReport {
  environment: string;
  service: string;
  version: string;
  /** sha256 of the signed manifest: names this exact artifact. */
  digest: string;
  commit: string;
  results: GateResult[];
}

export const refusedGates = (report: Pick<GateReport, 'results'>) => report.results.filter((r) => !r.passed);

/** The message of a refusal: which gates refused, why, and their evidence. */
export function refusalMessage(report: GateReport): string {
  const refused = refusedGates(report);
  const lines = refused.flatMap((r) => [`gate ${r.gate} refused: ${r.summary}`, ...r.evidence.map((e) => `  ${e}`)]);
  return `${report.environment} refuses ${report.service} ${report.version} (digest ${report.digest.slice(0, 12)}): ${refused.map((r) => r.gate).join(', ')}\n${lines.join('\n')}`;
}

/** `{service}`, `{version}`… in a command's argument or a URL, replaced by their values. */
export function substitute(template: string, values: Record<string, string>, encode = false): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) return whole;
    return encode ? encodeURIComponent(value) : value;
  });
}
