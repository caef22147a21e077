/**
 * The lint rules (seed §6.1; the lock rules are the ones strict migration linters such as squawk
 * enforce) and, for each, the multi-step way to make the change safely. docs/migrations.md lists them.
 */

export const lintRules = {
  'drop-table': 'drops a table or view the running version may still use',
  'drop-column': 'drops a column the running version may still read or write',
  'rename-table': 'renames (or moves to another schema) a table the running version reaches by its old name',
  'rename-column': 'renames a column the running version reaches by its old name',
  'change-column-type': 'changes a column type under the running version',
  'add-not-null-without-default': 'adds a NOT NULL column without a default: inserts by the running version fail',
  'set-not-null': 'makes an existing column NOT NULL: inserts by the running version that omit it fail',
  truncate: 'deletes every row of a table in use',
  'drop-cascade':
    'drops with CASCADE (or DROP OWNED), which also removes whatever depends on it: columns, views, tables',
  'create-index-blocking': 'builds an index on a table in use without CONCURRENTLY: writes wait until it is built',
  'constraint-without-not-valid':
    'adds a foreign key or check constraint that is validated at once: the table is locked while every row is checked',
  'lock-table': 'locks a table in use explicitly: the running version waits behind the lock',
  'vacuum-full': 'rewrites a table in use under an exclusive lock (VACUUM FULL): reads and writes wait',
  cluster: 'rewrites a table in use under an exclusive lock (CLUSTER): reads and writes wait',
  'mixed-transaction':
    'mixes statements that run outside a transaction (CONCURRENTLY, VACUUM) with others in one migration',
  'dynamic-sql': 'runs dynamic SQL (EXECUTE), which zerodown cannot see before it runs',
  'opaque-code': 'holds code zerodown cannot analyse',
} as const;

export type LintRule = keyof typeof lintRules;

/** The marker that waives the rules about code zerodown cannot see, for the one statement below it. */
export const reviewedMarker = /^--\s*zerodown:reviewed\s+\S/;

/** Rules a `-- zerodown:reviewed <reason>` comment waives; every other rule holds, reviewed or not. */
export const reviewableRules: ReadonlySet<LintRule> = new Set(['dynamic-sql', 'opaque-code']);

const contractHint = (what: string) =>
  `stop using ${what} in one release and deploy it; then drop it in a later release, in a migration declared in schema.json as {"step": "contract", "expand": "<the expand migration>", "removes": [...]} (seed §6.2)`;

const reviewHint =
  'write the statements out as plain SQL (zerodown lints every static statement, also inside DO blocks and functions); or, once a person has reviewed exactly what it does, put the comment line `-- zerodown:reviewed <why it is safe>` right above the statement (docs/migrations.md)';

export const advice: Record<LintRule, (target: string) => string> = {
  'drop-table': (t) =>
    `the old version still queries ${t}: ${contractHint(t)}. zerodown contract steps remove columns; drop a whole table outside a rolling deployment once no version uses it`,
  'drop-column': (c) => `the old version still reads or writes ${c}: ${contractHint(c)}`,
  'rename-table': (t) =>
    `never rename in production (seed §6.1): create the new table (expand), deploy code that writes both, backfill, switch reads, and drop ${t} in a later contract step`,
  'rename-column': (c) =>
    `never rename in production (seed §6.1): add the new column (expand), deploy code that writes both, backfill it, then drop ${c} in a later contract step`,
  'change-column-type': (c) =>
    `add a column of the new type (expand), deploy code that writes both, backfill it, switch reads, then drop ${c} in a later contract step`,
  'add-not-null-without-default': (c) =>
    `the old version inserts rows without ${c}: add it nullable or with a DEFAULT, backfill it, and add NOT NULL in a later release once every running version writes it`,
  'set-not-null': (c) =>
    `the old version may insert rows without ${c}: add NOT NULL only in a release after every running version writes it (and it is backfilled)`,
  truncate: (t) => `deleting the rows of ${t} is not a schema change; do it outside a deployment, deliberately`,
  'drop-cascade': (t) =>
    `drop ${t} without CASCADE, so PostgreSQL refuses while anything depends on it; remove the dependents first, each in its own contract step (seed §6.2)`,
  'create-index-blocking': (t) =>
    `use CREATE INDEX CONCURRENTLY ... ON ${t} in a migration of its own (zerodown runs such a migration outside a transaction, statement by statement); for a unique or primary key constraint, build the unique index CONCURRENTLY first, then ADD CONSTRAINT ... UNIQUE USING INDEX (or PRIMARY KEY USING INDEX) in a later migration`,
  'constraint-without-not-valid': (c) =>
    `add ${c} with NOT VALID (checked for new rows only, no long lock), then run ALTER TABLE ... VALIDATE CONSTRAINT in a later migration, which does not block writes; for a new column, add the column first and the constraint separately`,
  'lock-table': (t) =>
    `do not take explicit locks on ${t} in a migration; each statement takes the lock it needs, and the expand/contract steps keep those short`,
  'vacuum-full': (t) =>
    `plain VACUUM (or pg_repack, which rewrites ${t} without a long exclusive lock), outside a deployment`,
  cluster: (t) => `pg_repack --order-by rewrites ${t} without a long exclusive lock; run it outside a deployment`,
  'mixed-transaction': () =>
    'put the statements that cannot run in a transaction (CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY, VACUUM) in a migration of their own, and make them idempotent (IF NOT EXISTS / IF EXISTS) so a retry after a failure works',
  'dynamic-sql': () => reviewHint,
  'opaque-code': () => reviewHint,
};
