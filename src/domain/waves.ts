import * as z from 'zod';
import { deploymentSpec, planBatches, type DeploymentSpec, type DeploymentSpecInput } from './deployment.ts';
import { hostName, instanceName } from './names.ts';
import { mayTakeEveryInstance } from './roles.ts';

/**
 * A deployment in stages (docs/waves.md, docs/scale.md): an ordered list of stages, each made of
 * parts that run at once as child rolling deployments. Waves of regions are stages whose parts are
 * the regions; a big fleet is cut into segments, one part per stage, so that no single workflow
 * history holds more than a few thousand events.
 */

/** A region's name in the fleet file (also part of its child workflow's id). */
export const regionName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,30}$/, 'must be lower-case letters, digits and dashes, starting with a letter');

/** What a service's `waves` says in the fleet file. */
export const wavesConfig = z
  .object({
    /** Each region and its hosts. */
    regions: z.record(regionName, z.array(hostName).min(1, 'a region needs at least one host')),
    /** The waves in order; the regions of one wave are deployed at the same time. */
    order: z.array(z.array(regionName).min(1, 'a wave needs at least one region')).min(1, 'list at least one wave'),
    /** How long a finished wave is watched before the next one starts. */
    bakeSeconds: z.number().min(0).max(3600).default(30),
    /** When a wave fails: restore the regions of the finished waves too (default), or keep them. */
    onFailure: z.enum(['roll-back-finished', 'keep-finished']).default('roll-back-finished'),
  })
  .strict();
export type WavesConfig = z.infer<typeof wavesConfig>;
/** The waves as written in a fleet file, before the defaults are filled in. */
export type WavesConfigInput = z.input<typeof wavesConfig>;

/** The fleet file's mistakes in a service's waves, as `path: message` issues under the service. */
export function waveIssues(service: {
  instances: { name: string; host: string }[];
  waves?: WavesConfig | undefined;
}): { path: PropertyKey[]; message: string }[] {
  const waves = service.waves;
  if (!waves) return [];
  const issues: { path: PropertyKey[]; message: string }[] = [];
  const hosts = new Set(service.instances.map((i) => i.host));
  const regionOf = new Map<string, string>();
  for (const [region, list] of Object.entries(waves.regions))
    list.forEach((host, i) => {
      const path = ['waves', 'regions', region, i];
      if (!hosts.has(host))
        issues.push({ path, message: `unknown host ${host}: no instance of this service runs there` });
      else if (regionOf.has(host) && regionOf.get(host) !== region)
        issues.push({ path, message: `host ${host} is already in region ${regionOf.get(host)}` });
      else regionOf.set(host, region);
    });
  const waveOf = new Map<string, number>();
  waves.order.forEach((wave, w) =>
    wave.forEach((region, i) => {
      const path = ['waves', 'order', w, i];
      if (!(region in waves.regions)) issues.push({ path, message: `unknown region ${region}` });
      else if (waveOf.has(region))
        issues.push({ path, message: `region ${region} is already in wave ${(waveOf.get(region) ?? 0) + 1}` });
      else waveOf.set(region, w);
    }),
  );
  for (const region of Object.keys(waves.regions))
    if (!waveOf.has(region))
      issues.push({ path: ['waves', 'regions', region], message: `region ${region} is in no wave: add it to order` });
  for (const host of hosts)
    if (!regionOf.has(host)) issues.push({ path: ['waves', 'regions'], message: `host ${host} is in no region` });
  return issues;
}

/** One part of a stage: a child rolling deployment over these instances. */
export const stagePart = z.object({
  name: regionName,
  instances: z.array(instanceName).min(1),
});
export type StagePart = z.infer<typeof stagePart>;

/** The input of the staged deployment workflow. */
export const stagedDeploymentInput = z
  .object({
    /** The whole deployment: every instance, and the settings each part inherits. */
    spec: deploymentSpec,
    kind: z.enum(['waves', 'segments']),
    stages: z.array(z.object({ name: z.string().min(1).max(100), parts: z.array(stagePart).min(1) })).min(1),
    /** How long each finished stage is watched before the next starts. */
    bakeSeconds: z.number().min(0).max(3600).default(0),
    /** When a stage fails on its own: restore the finished stages too, last first. */
    rollBackFinished: z.boolean().default(true),
  })
  .superRefine((input, ctx) => {
    const all = new Set(input.spec.instances.map((t) => t.instance));
    const seen = new Set<string>();
    input.stages.forEach((stage, s) =>
      stage.parts.forEach((part, p) =>
        part.instances.forEach((instance, i) => {
          const path = ['stages', s, 'parts', p, 'instances', i];
          if (!all.has(instance)) ctx.addIssue({ code: 'custom', path, message: `${instance} is not in the spec` });
          if (seen.has(instance)) ctx.addIssue({ code: 'custom', path, message: `${instance} is in two parts` });
          seen.add(instance);
        }),
      ),
    );
    for (const instance of all)
      if (!seen.has(instance)) ctx.addIssue({ code: 'custom', path: ['stages'], message: `${instance} is in no part` });
  });
export type StagedDeploymentInput = z.input<typeof stagedDeploymentInput>;
export type StagedDeployment = z.infer<typeof stagedDeploymentInput>;

/** One wave per stage, one part per region: the instances whose host is in the region. */
export function planWaves(spec: DeploymentSpec, waves: WavesConfig): StagedDeploymentInput {
  const hostRegion = new Map(Object.entries(waves.regions).flatMap(([r, hosts]) => hosts.map((h) => [h, r] as const)));
  return {
    spec,
    kind: 'waves',
    bakeSeconds: waves.bakeSeconds,
    rollBackFinished: waves.onFailure === 'roll-back-finished',
    stages: waves.order.map((regions, w) => ({
      name: `wave ${w + 1}`,
      parts: regions.map((region) => ({
        name: region,
        instances: spec.instances.filter((t) => hostRegion.get(t.host) === region).map((t) => t.instance),
      })),
    })),
  };
}

/**
 * Cuts a big deployment into segments of whole batches, at most `maxInstances` instances each (at
 * least one batch), so each segment's history stays small. A last segment too small to keep one
 * instance serving joins the one before it.
 */
export function planSegments(spec: DeploymentSpec, maxInstances: number): StagedDeploymentInput {
  const perSegment = Math.max(1, Math.floor(maxInstances / spec.batchSize)) * spec.batchSize;
  const segments = planBatches(spec.instances, perSegment);
  const last = segments.at(-1);
  if (segments.length > 1 && last && last.length < 2) segments[segments.length - 2]?.push(...(segments.pop() ?? []));
  return {
    spec,
    kind: 'segments',
    bakeSeconds: 0,
    rollBackFinished: true,
    stages: segments.map((targets, s) => ({
      name: `segment ${s + 1}/${segments.length}`,
      parts: [{ name: `segment-${s + 1}`, instances: targets.map((t) => t.instance) }],
    })),
  };
}

/**
 * The spec of one part's child rolling deployment: its instances, a batch size that keeps one of
 * them serving, no approval (the parent asked for it), and the planned pauses that fall in it.
 * `firstBatch` is the whole deployment's number of the part's first batch (segments only).
 */
export function partSpec(spec: DeploymentSpec, part: StagePart, firstBatch?: number): DeploymentSpecInput {
  const instances = spec.instances.filter((t) => part.instances.includes(t.instance));
  const whole = mayTakeEveryInstance(spec.role, instances.length);
  const keepOne = (n: number) => (whole ? n : Math.max(1, Math.min(n, instances.length - 1)));
  const batches = Math.ceil(instances.length / spec.batchSize);
  const pauses =
    firstBatch === undefined
      ? []
      : spec.pauseAfterBatches.map((b) => b - firstBatch + 1).filter((b) => b >= 1 && b <= batches);
  return {
    ...spec,
    instances,
    batchSize: keepOne(spec.batchSize),
    ...(spec.rollbackBatchSize !== undefined ? { rollbackBatchSize: keepOne(spec.rollbackBatchSize) } : {}),
    requireApproval: false,
    pauseAfterBatches: pauses,
  };
}

/** A child's workflow id: the deployment's id, then the stage and the part. */
export const partWorkflowId = (parentId: string, stage: number, part: string, restore = false) =>
  `${parentId}/${restore ? 'restore' : `stage-${stage + 1}`}-${part}`;

/**
 * History events one rolling deployment spends, measured on the fast fake fleet
 * (test/workflows/scale-measure.test.ts, docs/scale.md): about 131 + 12.6 per instance + 30.1 per
 * batch on 2026-11-27; today's steps spend less (docs/scale.md), so these err towards smaller
 * parts. A rollback spends the instances' share again. `partEvents` is the budget of one part.
 */
export const historyCost = { fixed: 350, perInstance: 12.6, perBatch: 30.1, partEvents: 5000 } as const;

/** The events a rolling deployment of `instances` in batches of `batchSize` may reach, rollback included. */
export function estimatedEvents(instances: number, batchSize: number): number {
  const c = historyCost;
  return Math.ceil(
    c.fixed + 2 * c.perInstance * instances + c.perBatch * Math.ceil(instances / batchSize) + c.perBatch * 4,
  );
}

/** The most instances one part may hold to stay within its budget (at least one batch). */
export function segmentSize(batchSize: number): number {
  const c = historyCost;
  const n = Math.floor((c.partEvents - c.fixed - 4 * c.perBatch) / (2 * c.perInstance + c.perBatch / batchSize));
  return Math.max(batchSize, n);
}

/**
 * How a deployment runs: in waves when the service has them (and they are wanted), in segments
 * when one history would outgrow its budget, else as one rolling deployment (undefined).
 */
export function stagedPlan(spec: DeploymentSpec, waves: WavesConfig | undefined): StagedDeploymentInput | undefined {
  if (waves) return planWaves(spec, waves);
  const size = segmentSize(spec.batchSize);
  return spec.instances.length > size ? planSegments(spec, size) : undefined;
}
