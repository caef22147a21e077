import type { Command } from 'commander';
import * as z from 'zod';
import { parseInput, refused } from '../../domain/errors.ts';
import { loadMigrationSet } from '../../migrations/declaration.ts';
import { formatFindings } from '../../migrations/findings.ts';
import { lintMigrations } from '../../migrations/lint.ts';
import { jsonFlag, printJson } from '../options.ts';

const lintInput = z.object({ path: z.string().min(1), json: z.boolean().optional() }).strict();

const examples = `
Examples:
  zerodown migrations lint .builds/api/1.4.2            an artifact (build/migrations, build/schema.json)
  zerodown migrations lint db/migrations --json         a folder of .sql files, for CI

Exit code 0 when every migration is safe for a rolling deployment, 4 with the findings otherwise,
2 when the folder or schema.json cannot be read.`;

/** `zerodown migrations`: database migration safety (seed §6), usable in CI before any deployment. */
export function migrationsCommand(program: Command): void {
  const migrations = program
    .command('migrations')
    .description('check database migrations for rolling deployments (seed §6)');

  migrations
    .command('lint <artifact-or-folder>')
    .description('refuse migrations that would break the running version during a rolling deployment')
    .option(jsonFlag[0], 'print the findings as JSON')
    .addHelpText('after', examples)
    .action(async (path: string, raw: Record<string, unknown>) => {
      const flags = parseInput(
        lintInput,
        { ...raw, path },
        'invalid arguments',
        'See zerodown migrations lint --help.',
      );
      const set = await loadMigrationSet(flags.path);
      const findings = await lintMigrations(set);
      if (flags.json) {
        const steps = Object.fromEntries(
          Object.entries(set.declaration.migrations).map(([name, step]) => [name, step.step]),
        );
        printJson({
          ok: findings.length === 0,
          dir: set.dir,
          schemaVersion: set.schemaVersion ?? null,
          migrations: set.files.map((f) => f.name),
          steps,
          findings,
        });
      } else if (findings.length === 0) {
        process.stdout.write(
          `${set.files.length} migration(s) in ${set.dir} are safe for a rolling deployment${set.schemaVersion ? ` (schema version ${set.schemaVersion})` : ''}\n`,
        );
      }
      if (findings.length > 0) {
        throw refused(
          `${findings.length} statement(s) in ${set.dir} are unsafe during a rolling deployment, where the old version keeps running against the same database (seed §6.1)${flags.json ? '' : `:\n${formatFindings(findings)}`}`,
          'Split each change into expand and contract steps as advised.',
        );
      }
    });
}
