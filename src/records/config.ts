import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { LoadedFleet } from '../fleet/fleet-file.ts';

/** The records settings of a fleet file, with the archive folder made absolute. */
export interface RecordsSettings {
  databaseUrl: string;
  retentionDays: number;
  archiveDir: string;
  keepSuccessful: number;
}

/** The fleet's records settings, or undefined when the fleet file has no `records` section. */
export function recordsSettings(fleet: LoadedFleet): RecordsSettings | undefined {
  const records = fleet.config.records;
  if (!records) return undefined;
  const baseDir = dirname(resolve(fleet.source));
  const archiveDir = records.archiveDir
    ? isAbsolute(records.archiveDir)
      ? records.archiveDir
      : resolve(baseDir, records.archiveDir)
    : join(fleet.paths.stateDir, 'records-archive');
  return {
    databaseUrl: records.databaseUrl,
    retentionDays: records.retentionDays,
    archiveDir,
    keepSuccessful: records.keepSuccessful,
  };
}

/** The URL without its password, for messages. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an unparsable URL)';
  }
}
