import { badInput } from '../domain/errors.ts';
import { defaultEnvironment, environmentName } from '../domain/gates.ts';

/**
 * The `--env` flag of commands that address one environment. Apart from fleet-context.ts so that a
 * command reading no fleet file (`zerodown status`) does not load the fleet file's parser with it.
 */

/** Shared `--env` flag text: which environment of the fleet file. */
export const envFlag = [
  '--env <name>',
  'environment of the fleet file, e.g. staging or production [env ZERODOWN_ENV; needed when the file has several]',
] as const;

/** The environment a command that reads no fleet file addresses: --env, else $ZERODOWN_ENV, else the default one. */
export function environmentFromFlags(flags: { env?: unknown }): string {
  const name = typeof flags.env === 'string' && flags.env ? flags.env : process.env.ZERODOWN_ENV || defaultEnvironment;
  const parsed = environmentName.safeParse(name);
  if (!parsed.success)
    throw badInput(
      `invalid environment "${name}": ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      'E.g. --env production.',
    );
  return parsed.data;
}
