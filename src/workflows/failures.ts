import { ActivityFailure, ApplicationFailure, TemporalFailure } from '@temporalio/workflow';

/** The message a person should read: an activity's own failure, not the wrapper around it. */
export function failureMessage(error: unknown): string {
  if (error instanceof ActivityFailure && error.cause) return failureMessage(error.cause);
  if (error instanceof TemporalFailure || error instanceof Error) return error.message;
  return String(error);
}

/** The failure type an activity gave, e.g. InstanceUnhealthy. */
export function failureType(error: unknown): string | undefined {
  if (error instanceof ActivityFailure) return failureType(error.cause);
  return error instanceof ApplicationFailure ? (error.type ?? undefined) : undefined;
}
