import { badInput } from './errors.ts';
import type { CanarySettings, CanarySettingsInput, CanaryStep } from './canary.ts';
import type { DeploymentSpec } from './deployment.ts';

export type Strategy = DeploymentSpec['strategy'];

/**
 * The strategy of one deployment: `--strategy`, else the service's `strategy:` in the fleet file,
 * else rolling. A canary takes the fleet file's `canary:` block, with `--steps` in place of its
 * steps when given (docs/canary.md). Returns the fields to add to the spec before it is validated.
 */
export function strategyFields(
  service: { strategy?: Strategy | undefined; canary?: CanarySettings | undefined },
  flags: { strategy?: Strategy | undefined; steps?: CanaryStep[] | undefined },
): { strategy: Strategy; canary?: CanarySettingsInput } {
  const strategy = flags.strategy ?? service.strategy ?? 'rolling';
  if (flags.steps && strategy !== 'canary')
    throw badInput(
      `--steps sets a canary's steps, but this deployment's strategy is ${strategy}`,
      'Add --strategy canary, or set strategy: canary for the service in the fleet file.',
    );
  if (strategy !== 'canary') return { strategy };
  const settings = service.canary;
  const steps = flags.steps ?? settings?.steps;
  return {
    strategy,
    canary: { ...(settings?.instance ? { instance: settings.instance } : {}), ...(steps ? { steps } : {}) },
  };
}
