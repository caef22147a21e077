import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadFleetFile, parseFleet } from '../../src/fleet/fleet-file.ts';
import { recordsSettings, safeUrl } from '../../src/records/config.ts';

const service = [
  'services:',
  '  api:',
  '    role: worker',
  '    queue: { name: records-config, redisUrl: "redis://127.0.0.1:6379" }',
  '    instances: [{ name: api-1, port: 19301 }]',
];

test('a records section with a wrong URL or retention is refused as path: message, all at once', () => {
  const text = ['records:', '  databaseUrl: mysql://db/zerodown', '  retentionDays: 0', '  keep: 3', ...service].join(
    '\n',
  );
  assert.throws(
    () => parseFleet(text, 'fleet.yaml'),
    (error: Error) =>
      /records\.databaseUrl: must be a postgres:\/\/ or postgresql:\/\/ URL/.test(error.message) &&
      /records\.retentionDays: /.test(error.message) &&
      /records: Unrecognized key: "keep"/.test(error.message),
  );
});

test('records default to 180 days, the 3 last successes, and an archive under the state folder', async () => {
  const dir = await mkdtemp(path.join(process.env.ZERODOWN_TEST_SCRATCH ?? tmpdir(), 'records-config-'));
  try {
    const file = path.join(dir, 'fleet.yaml');
    await writeFile(
      file,
      ['stateDir: state', 'records:', '  databaseUrl: postgres://u:secret@127.0.0.1/z', ...service].join('\n'),
    );
    const settings = recordsSettings(await loadFleetFile(file, {}));
    assert.deepEqual(settings, {
      databaseUrl: 'postgres://u:secret@127.0.0.1/z',
      retentionDays: 180,
      archiveDir: path.join(dir, 'state', 'records-archive'),
      keepSuccessful: 3,
    });
    assert.equal(safeUrl(settings.databaseUrl), 'postgres://u:***@127.0.0.1/z', 'messages never show the password');

    await writeFile(file, service.join('\n'));
    assert.equal(recordsSettings(await loadFleetFile(file, {})), undefined, 'no section, no records');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
