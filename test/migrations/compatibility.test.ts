import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schemaCompatibility } from '../../src/migrations/compatibility.ts';
import { type MigrationSet, schemaDeclaration } from '../../src/migrations/declaration.ts';
import type { AppliedMigration } from '../../src/migrations/record.ts';
import { upSection } from '../../src/migrations/sql-source.ts';

const setOf = (files: Record<string, string>, declaration: unknown = {}): MigrationSet => ({
  dir: '/m',
  files: Object.entries(files).map(([name, sql]) => ({ name, file: `/m/${name}.sql`, sql, up: upSection(sql) })),
  declaration: schemaDeclaration.parse(declaration),
  schemaVersion: Object.keys(files).at(-1),
});

describe('schema compatibility', () => {
  const applied: AppliedMigration[] = [
    { name: '0001', step: 'plain', removes: [] },
    { name: '0002', step: 'expand', removes: [] },
    { name: '0003', step: 'contract', version: '4.0.0', removes: ['users.name'] },
  ];
  it('lets a version run when everything applied beyond it is safe for it', () => {
    const v3 = setOf({ '0001': '', '0002': '' }, { uses: ['users.display_name'] });
    assert.deepEqual(schemaCompatibility(applied, v3, '3.0.0'), { ok: true, pending: [], ahead: ['0003'] });
    assert.deepEqual(schemaCompatibility(applied.slice(0, 1), v3, '3.0.0'), { ok: true, pending: ['0002'], ahead: [] });
  });
  it('refuses a version that uses what a contract step removed, or does not say what it uses', () => {
    const v2 = setOf({ '0001': '', '0002': '' }, { uses: ['users.name', 'users.display_name'] });
    assert.deepEqual(schemaCompatibility(applied, v2, '2.0.0'), {
      ok: false,
      reason: 'contract step 0003 (applied by 4.0.0) removed users.name, which 2.0.0 uses',
    });
    assert.match(
      String((schemaCompatibility(applied, setOf({ '0001': '' }), '1.0.0') as { reason: string }).reason),
      /does not declare in schema.json which columns it uses/,
    );
  });
  it('refuses a version whose migrations diverge from the applied ones', () => {
    assert.match(
      String(
        (schemaCompatibility(applied, setOf({ '0001': '', '0002_other': '' }), '9.0.0') as { reason: string }).reason,
      ),
      /migration #2 is 0002, but 9.0.0 has 0002_other there/,
    );
  });
});
