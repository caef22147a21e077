import * as z from 'zod';
import { defaultTaskQueue } from '../domain/deployment.ts';

/**
 * What several commands share: option definitions (`--json`, `--by`, `--task-queue`), the parser of
 * numbers typed on the command line, and JSON output. One definition each, so they cannot drift.
 */

export const jsonFlag = ['--json', 'print as JSON'] as const;

export const byFlag = [
  '--by <name>',
  'who is asking, for the deployment log [env ZERODOWN_USER, else your login]',
] as const;

/** `--task-queue`, defaulting to $ZERODOWN_TASK_QUEUE, else the default queue. */
export function taskQueueFlag(description = "the workers' main task queue"): [string, string, string] {
  return [
    '--task-queue <name>',
    `${description} [env ZERODOWN_TASK_QUEUE]`,
    process.env.ZERODOWN_TASK_QUEUE ?? defaultTaskQueue,
  ];
}

export const taskQueueName = z.string().min(1, 'must not be empty');

/**
 * A number from the command line, in plain decimal digits only: `Number()` would read '' as 0,
 * '0x1' as 1 and '1e3' as 1000, none of which a person meant.
 */
export function decimalOption(kind: 'whole' | 'fraction' = 'whole') {
  const pattern = kind === 'whole' ? /^\d{1,9}$/ : /^\d{1,9}(\.\d{1,9})?$/;
  const message =
    kind === 'whole'
      ? 'must be a whole number in plain decimal digits, e.g. 2'
      : 'must be a number in plain decimal digits, e.g. 30 or 0.05';
  return z
    .string()
    .regex(pattern, message)
    .transform((text) => Number(text));
}

/** Prints a value as indented JSON on stdout (JSON escapes control characters itself). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
