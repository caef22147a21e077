import { ActivityFailure, ApplicationFailure, TemporalFailure } from '@temporalio/workflow';
import { failureTypes } from '../domain/errors.ts';

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

/**
 * The headline of a deployment that failed before any instance changed. A failing migration may
 * leave earlier migrations of the same deployment applied (each is recorded as it commits), so
 * only "no instance was changed" is true then; the message says which migrations stay.
 */
export function validationFailure(error: unknown): string {
  return failureType(error) === failureTypes.migrationFailed
    ? `applying database migrations failed, no instance was changed: ${failureMessage(error)}`
    : `validation failed, nothing was changed: ${failureMessage(error)}`;
}
