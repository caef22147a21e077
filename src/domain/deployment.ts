import * as z from 'zod';
import { defaultEnvironment, environmentName } from './gates.ts';
import { analysisConfig } from './analysis-config.ts';
import { blueGreenSpec } from './blue-green.ts';
import { verifyTimeoutSeconds } from './verification.ts';
import { canarySettings } from './canary.ts';
import { hostName, instanceName, serviceName, version } from './names.ts';
import { mayTakeEveryInstance, minInstances, serviceRole } from './roles.ts';

/**
 * The desired state of one deployment: what the workflow is asked to do. Built by the client from
 * the fleet file and the operator's flags, validated again by the workflow (it is a boundary).
 */

/** One instance to update, with the task queue of the worker on its host. */
export const deploymentTarget = z.object({
  instance: instanceName,
  host: hostName,
  /** Activities that touch this instance run here (docs/architecture.md, "Many hosts"). */
  taskQueue: z.string().min(1),
});

export const deploymentSpec = z
  .object({
    service: serviceName,
    version,
    /** The fleet file's environment; deployments recorded before environments existed are `default`. */
    environment: environmentName.default(defaultEnvironment),
    /**
     * How instances are taken out of work and proven back (domain/roles.ts). Defaults to api, so
     * specs recorded before roles existed still parse.
     */
    role: serviceRole.default('api'),
    instances: z.array(deploymentTarget).min(1, 'a deployment needs at least one instance'),
    /** Where load-balancer activities run: a worker that reaches the load balancer's runtime API. */
    loadBalancerTaskQueue: z.string().min(1),
    /** Instances updated at once; the rest keep serving. */
    batchSize: z.number().int().min(1).default(1),
    /** Instances restored at once during a rollback (default: see `rollbackBatchSize`). */
    rollbackBatchSize: z.number().int().min(1).optional(),
    /** Wait for an operator's approval before the first instance changes. */
    requireApproval: z.boolean().default(false),
    /** Pause after these batches (1-based) until resumed. */
    pauseAfterBatches: z.array(z.number().int().min(1)).default([]),
    /** How long each updated batch is watched before the next one starts. */
    bakeSeconds: z.number().min(0).max(3600).default(2),
    /** Client-visible error rate that triggers an automatic rollback (seed §9.1: 5 %). */
    errorRateThreshold: z.number().min(0).max(1).default(0.05),
    drainTimeoutSeconds: z.number().int().min(1).max(3600).default(30),
    /** How long a restarted instance may take to prove itself healthy. */
    healthTimeoutSeconds: z.number().int().min(1).max(3600).default(30),
    /** Who started it, for the deployment log. */
    requestedBy: z.string().min(1).default('unknown'),
    /** The fleet file's analysis of the service: judged during each bake when present (docs/analysis.md). */
    analysis: analysisConfig.optional(),
    strategy: z.enum(['rolling', 'canary', 'blue-green']).default('rolling'),
    /** The blue-green settings from the fleet file (docs/blue-green.md); required by that strategy. */
    blueGreen: blueGreenSpec.optional(),
    /** Manual verification (docs/verification.md): wait for `zerodown verify --ok|--reject` before succeeding. */
    verify: z.boolean().default(false),
    /** How long that wait may last before it rolls back; absent: no limit. */
    verifyTimeoutSeconds: verifyTimeoutSeconds.optional(),
    /** The canary's steps and instance, used when the strategy is canary (docs/canary.md). */
    canary: canarySettings.optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.strategy === 'blue-green' && !spec.blueGreen)
      ctx.addIssue({
        code: 'custom',
        path: ['strategy'],
        message: `blue-green needs the service's blueGreen block in the fleet file (greenPorts, preview): see docs/blue-green.md`,
      });
    const needed = minInstances(spec.role);
    if (spec.instances.length < needed) {
      ctx.addIssue({
        code: 'custom',
        path: ['instances'],
        message: `a zero-downtime deployment needs at least two instances (seed §5.2)${spec.role === 'api' ? '' : ` of a ${spec.role}`}; this one has ${spec.instances.length}`,
      });
    }
    const whole = mayTakeEveryInstance(spec.role, spec.instances.length);
    if (!whole && spec.batchSize >= spec.instances.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['batchSize'],
        message: `must be smaller than the number of instances (${spec.instances.length}), so some keep serving`,
      });
    }
    if (!whole && spec.rollbackBatchSize !== undefined && spec.rollbackBatchSize >= spec.instances.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['rollbackBatchSize'],
        message: `must be smaller than the number of instances (${spec.instances.length}), so some keep serving`,
      });
    }
    if (
      spec.strategy === 'canary' &&
      spec.canary?.instance &&
      !spec.instances.some((t) => t.instance === spec.canary?.instance)
    )
      ctx.addIssue({
        code: 'custom',
        path: ['canary', 'instance'],
        message: `${spec.canary.instance} is not an instance of ${spec.service} (${spec.instances.map((t) => t.instance).join(', ')})`,
      });
    const seen = new Set<string>();
    for (const [i, target] of spec.instances.entries()) {
      if (seen.has(target.instance))
        ctx.addIssue({
          code: 'custom',
          path: ['instances', i, 'instance'],
          message: `${target.instance} is listed twice`,
        });
      seen.add(target.instance);
    }
  });

/** A validated deployment spec (defaults filled in). */
export type DeploymentSpec = z.infer<typeof deploymentSpec>;
/** A deployment spec as a caller writes it (defaults optional). */
export type DeploymentSpecInput = z.input<typeof deploymentSpec>;
export type DeploymentTarget = z.infer<typeof deploymentTarget>;

/**
 * One deployment per service and environment at a time: the workflow id is derived from both. The
 * default environment keeps `deploy-<service>`, so deployments started before environments existed
 * are still found; another is `deploy-<service>@<environment>` (`@` is in neither name).
 */
export const deploymentWorkflowId = (service: string, environment: string = defaultEnvironment) =>
  environment === defaultEnvironment ? `deploy-${service}` : `deploy-${service}@${environment}`;

/**
 * The main task queue of an environment's workers: the default environment's is the queue itself,
 * another's `<queue>.<environment>`, so each environment's activities run where its fleet is.
 */
export function environmentTaskQueue(mainQueue: string, environment: string = defaultEnvironment): string {
  return environment === defaultEnvironment ? mainQueue : `${mainQueue}.${environment}`;
}

/**
 * How many instances a rollback restores at once. Unless the spec says, a quarter of the fleet (at
 * least the deployment's batch size): a rollback is urgent, and three quarters still serve.
 */
export function rollbackBatchSize(spec: Pick<DeploymentSpec, 'batchSize' | 'rollbackBatchSize' | 'instances'>): number {
  return spec.rollbackBatchSize ?? Math.max(spec.batchSize, Math.floor(spec.instances.length / 4));
}

/** Splits the instances into the batches the workflow updates one after another. */
export function planBatches<T>(instances: readonly T[], batchSize: number): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < instances.length; i += batchSize) batches.push(instances.slice(i, i + batchSize));
  return batches;
}

/** The default task queue: workflows, load-balancer activities and the instances of host `local`. */
export const defaultTaskQueue = 'zerodown';

/**
 * The task queue of a host's worker. Instances on host `local` share the main queue, so on one
 * machine one worker serves everything; any other host has a queue of its own.
 */
export function hostTaskQueue(host: string, mainQueue: string = defaultTaskQueue): string {
  return host === 'local' ? mainQueue : `${mainQueue}@${host}`;
}
