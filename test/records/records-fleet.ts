import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRecordActivities } from '../../src/activities/records.ts';
import { loadFleetFile, type LoadedFleet } from '../../src/fleet/fleet-file.ts';
import { createLogger } from '../../src/logging.ts';
import { closeRecordsPools } from '../../src/records/database.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

/**
 * A throwaway records database and a fleet file that points at it (with its own archive folder),
 * for the record activities as a worker builds them.
 */
export interface RecordsFixture {
  db: TestDatabase;
  dir: string;
  fleetFile: string;
  fleet: LoadedFleet;
  archiveDir: string;
  activities: ReturnType<typeof createRecordActivities>;
  cleanup(): Promise<void>;
}

export async function recordsFixture(options: { retentionDays?: number; keepSuccessful?: number } = {}) {
  const db = await createTestDatabase('zerodown_records');
  const dir = await mkdtemp(path.join(process.env.ZERODOWN_TEST_SCRATCH ?? tmpdir(), 'records-'));
  const fleetFile = path.join(dir, 'fleet.yaml');
  const archiveDir = path.join(dir, 'archive');
  await writeFile(
    fleetFile,
    [
      'stateDir: state',
      'buildsRoot: builds',
      'records:',
      `  databaseUrl: ${db.url}`,
      `  retentionDays: ${options.retentionDays ?? 180}`,
      `  keepSuccessful: ${options.keepSuccessful ?? 2}`,
      '  archiveDir: archive',
      'services:',
      '  api:',
      '    role: api',
      '    frontend: { address: 127.0.0.1, port: 18080 }',
      '    instances:',
      '      - { name: api-1, port: 19101 }',
      '',
    ].join('\n'),
  );
  const fleet = await loadFleetFile(fleetFile, {});
  const activities = createRecordActivities({ fleet, logger: createLogger('records-test') });
  return {
    db,
    dir,
    fleetFile,
    fleet,
    archiveDir,
    activities,
    async cleanup() {
      await closeRecordsPools();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    },
  } satisfies RecordsFixture;
}
