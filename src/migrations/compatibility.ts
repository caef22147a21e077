import type { MigrationSet } from './declaration.ts';
import type { AppliedMigration, ExpandRecord } from './record.ts';

/**
 * The rules that decide whether a version may run against the database's schema, pure so they
 * can be read (and tested) in one place.
 *
 * A version V can run against the applied schema when the applied migrations are V's own
 * migrations, possibly followed by migrations V does not know that are all safe for V: every
 * linted migration is backward compatible, so only contract steps can break V, and a contract
 * step breaks V unless V declares `uses` and none of the columns it removed is among them. A
 * migration applied outside zerodown's record is treated as breaking.
 */

export type Compatibility = { ok: true; pending: string[]; ahead: string[] } | { ok: false; reason: string };

export function schemaCompatibility(
  applied: readonly AppliedMigration[],
  target: MigrationSet,
  version: string,
): Compatibility {
  const own = target.files.map((f) => f.name);
  const common = Math.min(applied.length, own.length);
  for (let i = 0; i < common; i++) {
    if (applied[i]?.name !== own[i]) {
      return {
        ok: false,
        reason: `the database's migration #${i + 1} is ${applied[i]?.name}, but ${version} has ${own[i]} there: the histories diverged, so ${version} was built for a different schema. Build ${version} on top of the migrations already applied`,
      };
    }
  }
  const ahead = applied.slice(own.length);
  for (const m of ahead) {
    if (!m.step)
      return {
        ok: false,
        reason: `migration ${m.name} was applied without zerodown's record, so whether ${version} still works against it is unknown`,
      };
    if (m.step !== 'contract') continue;
    const uses = target.declaration.uses;
    if (!uses) {
      return {
        ok: false,
        reason: `contract step ${m.name}${m.version ? ` (applied by ${m.version})` : ''} removed ${m.removes.join(', ')}, and ${version} does not declare in schema.json which columns it uses, so it may still need them`,
      };
    }
    const needed = m.removes.filter((c) => uses.includes(c));
    if (needed.length > 0) {
      return {
        ok: false,
        reason: `contract step ${m.name}${m.version ? ` (applied by ${m.version})` : ''} removed ${needed.join(', ')}, which ${version} uses`,
      };
    }
  }
  return { ok: true, pending: own.slice(applied.length), ahead: ahead.map((m) => m.name) };
}

/**
 * Whether a pending contract step may run now: its expand step was applied and deployed, its
 * backfill (if any) finished, and no running version uses what it removes (their artifacts say).
 */
export function contractProblem(
  contract: { name: string; expand: string; removes: readonly string[] },
  record: ExpandRecord | undefined,
  running: ReadonlyArray<{ version: string; set: MigrationSet | undefined }>,
): string | undefined {
  if (!record)
    return `contract step ${contract.name} removes what expand step ${contract.expand} replaced, but ${contract.expand} has not been applied by zerodown; deploy the expand step first`;
  if (!record.deployedAt)
    return `expand step ${contract.expand} (applied by ${record.expandedBy}) has not finished deploying yet; finish that deployment before contracting`;
  if (record.backfill && !record.backfilledAt) {
    return `the backfill of expand step ${contract.expand} has not finished (${record.backfillBatches} batch(es), ${record.backfillRows} row(s) so far); let it finish before removing the old column`;
  }
  for (const { version, set } of running) {
    const uses = set?.declaration.uses;
    if (!set) return `running version ${version} has no artifact here to say which columns it uses`;
    if (!uses)
      return `running version ${version} does not declare in schema.json which columns it uses, so it may still use ${contract.removes.join(', ')}`;
    const needed = contract.removes.filter((c) => uses.includes(c));
    if (needed.length > 0)
      return `running version ${version} still uses ${needed.join(', ')}; deploy a version that no longer uses ${needed.length > 1 ? 'them' : 'it'} first`;
  }
  return undefined;
}
