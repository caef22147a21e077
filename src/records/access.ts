import type pg from 'pg';
import { unreachable, ZerodownError } from '../domain/errors.ts';
import type { LoadedFleet } from '../fleet/fleet-file.ts';
import { type RecordsSettings, recordsSettings, safeUrl } from './config.ts';
import { closeRecordsPools, recordsPool } from './database.ts';

/**
 * Runs `body` over the records database of the fleet (for one CLI command), closing the pool
 * afterwards; undefined when the fleet file keeps no records. Any database failure is one clear
 * `unreachable` error.
 */
export async function withRecords<T>(
  fleet: LoadedFleet | undefined,
  body: (pool: pg.Pool, settings: RecordsSettings) => Promise<T>,
): Promise<T | undefined> {
  const settings = fleet ? recordsSettings(fleet) : undefined;
  if (!settings) return undefined;
  try {
    return await body(await recordsPool(settings.databaseUrl), settings);
  } catch (error) {
    if (error instanceof ZerodownError) throw error;
    throw unreachable(
      `cannot read the records in ${safeUrl(settings.databaseUrl)}: ${(error as Error).message.split('\n')[0]}`,
      'check that PostgreSQL runs and records.databaseUrl in the fleet file is right',
    );
  } finally {
    await closeRecordsPools();
  }
}
