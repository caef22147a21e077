import {
  type AlterTableCmd,
  type ColumnDef,
  type Node,
  type RangeVar,
  type RawStmt,
  hasSqlDetails,
  parse,
} from 'libpg-query';
import { type MigrationFile, type MigrationSet, normalizeField, stepOf } from './declaration.ts';

/**
 * Migration linting for rolling deployments (seed §6.1). During a rolling deployment the old
 * version keeps running against the same database, so every migration must leave a schema the old
 * code still works with. Statements are parsed by the real PostgreSQL parser (libpg-query), not
 * matched by patterns, so comments, quoting and odd formatting cannot hide a destructive change.
 */

export const lintRules = {
  syntax: 'the file is not valid PostgreSQL',
  'drop-table': 'drops a table or view the running version may still use',
  'drop-column': 'drops a column the running version may still read or write',
  'rename-table': 'renames a table the running version reaches by its old name',
  'rename-column': 'renames a column the running version reaches by its old name',
  'change-column-type': 'changes a column type under the running version',
  'add-not-null-without-default': 'adds a NOT NULL column without a default: inserts by the running version fail',
  'set-not-null': 'makes an existing column NOT NULL: inserts by the running version that omit it fail',
  truncate: 'deletes every row of a table in use',
} as const;

export type LintRule = keyof typeof lintRules;

/** One refused statement: where it is, what it does and how to do it the multi-step way. */
export interface LintFinding {
  migration: string;
  file: string;
  line: number;
  statement: string;
  rule: LintRule;
  message: string;
  advice: string;
}

const contractHint = (what: string) =>
  `stop using ${what} in one release and deploy it; then drop it in a later release, in a migration declared in schema.json as {"step": "contract", "expand": "<the expand migration>", "removes": [...]} (seed §6.2)`;

const advice: Record<LintRule, (target: string) => string> = {
  syntax: () => 'fix the SQL; nothing was applied',
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
};

/**
 * Lints `only` (default: all) of the set's migrations. A contract step may drop exactly the
 * columns it declares in `removes`; whether it may run now is decided against the database when
 * it is applied. Objects created earlier in the same file are new, so changing them is safe.
 */
export async function lintMigrations(set: MigrationSet, only?: ReadonlySet<string>): Promise<LintFinding[]> {
  const findings: LintFinding[] = [];
  for (const file of set.files) {
    if (only && !only.has(file.name)) continue;
    const step = stepOf(set, file.name);
    const removes = new Set(step?.step === 'contract' ? step.removes : []);
    findings.push(
      ...(await lintFile(file))
        .filter((f) => !(f.rule === 'drop-column' && removes.has(f.target)))
        .map(({ target: _target, ...f }) => f),
    );
  }
  return findings;
}

type Raw = LintFinding & { target: string };

async function lintFile(file: MigrationFile): Promise<Raw[]> {
  const bytes = Buffer.from(file.sql, 'utf8');
  const lineAt = (offset: number) => bytes.subarray(0, offset).toString('utf8').split('\n').length;
  let stmts: RawStmt[];
  try {
    stmts = (await parse(file.sql)).stmts ?? [];
  } catch (error) {
    const cursor = hasSqlDetails(error) ? (error.sqlDetails?.cursorPosition ?? 0) : 0;
    const message = `${lintRules.syntax}: ${(error as Error).message}`;
    return [
      {
        migration: file.name,
        file: file.file,
        line: lineAt(cursor),
        statement: '',
        rule: 'syntax',
        message,
        advice: advice.syntax(''),
        target: '',
      },
    ];
  }
  const created = new Set<string>();
  const findings: Raw[] = [];
  for (const raw of stmts) {
    const start = raw.stmt_location ?? 0;
    const text = bytes.subarray(start, raw.stmt_len ? start + raw.stmt_len : undefined).toString('utf8');
    const leading = text.length - text.trimStart().length;
    const statement = text.trim().replace(/\s+/g, ' ');
    const line = lineAt(start + Buffer.byteLength(text.slice(0, leading)));
    for (const [rule, target] of statementFindings(raw.stmt, created)) {
      findings.push({
        migration: file.name,
        file: file.file,
        line,
        statement,
        rule,
        message: `${lintRules[rule]} (${target})`,
        advice: advice[rule](target),
        target,
      });
    }
  }
  return findings;
}

/** The rules a statement breaks, each with the table or column it concerns. */
function statementFindings(stmt: Node | undefined, created: Set<string>): Array<[LintRule, string]> {
  if (!stmt) return [];
  const isNew = (table: string) => created.has(table);
  if ('CreateStmt' in stmt) {
    created.add(tableName(stmt.CreateStmt.relation));
    return [];
  }
  if ('DropStmt' in stmt) {
    const { removeType, objects = [] } = stmt.DropStmt;
    if (
      !['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE', 'OBJECT_SCHEMA'].includes(
        removeType ?? '',
      )
    )
      return [];
    return objects
      .map((o) => qualifiedName(o))
      .filter((t) => !isNew(t))
      .map((t) => ['drop-table', t]);
  }
  if ('TruncateStmt' in stmt) {
    return (stmt.TruncateStmt.relations ?? [])
      .flatMap((r) => ('RangeVar' in r ? [tableName(r.RangeVar)] : []))
      .filter((t) => !isNew(t))
      .map((t) => ['truncate', t]);
  }
  if ('RenameStmt' in stmt) {
    const { renameType, relation, subname } = stmt.RenameStmt;
    const table = tableName(relation);
    if (isNew(table)) return [];
    if (renameType === 'OBJECT_COLUMN') return [['rename-column', `${table}.${subname}`]];
    if (renameType === 'OBJECT_TABLE' || renameType === 'OBJECT_VIEW') return [['rename-table', table]];
    return [];
  }
  if ('AlterTableStmt' in stmt) {
    const table = tableName(stmt.AlterTableStmt.relation);
    if (isNew(table)) return [];
    return (stmt.AlterTableStmt.cmds ?? []).flatMap((c) =>
      'AlterTableCmd' in c ? alterFindings(table, c.AlterTableCmd) : [],
    );
  }
  return [];
}

function alterFindings(table: string, cmd: AlterTableCmd): Array<[LintRule, string]> {
  const column = `${table}.${cmd.name ?? '?'}`;
  switch (cmd.subtype) {
    case 'AT_DropColumn':
      return [['drop-column', column]];
    case 'AT_AlterColumnType':
      return [['change-column-type', column]];
    case 'AT_SetNotNull':
      return [['set-not-null', column]];
    case 'AT_AddColumn': {
      const def = cmd.def && 'ColumnDef' in cmd.def ? cmd.def.ColumnDef : undefined;
      return def && notNullWithoutDefault(def) ? [['add-not-null-without-default', `${table}.${def.colname}`]] : [];
    }
    default:
      return [];
  }
}

function notNullWithoutDefault(def: ColumnDef): boolean {
  const types = (def.constraints ?? []).flatMap((c) =>
    'Constraint' in c && c.Constraint.contype ? [c.Constraint.contype] : [],
  );
  const notNull = def.is_not_null || types.includes('CONSTR_NOTNULL') || types.includes('CONSTR_PRIMARY');
  const typeName = (def.typeName?.names ?? []).map((n) => ('String' in n ? n.String.sval : '')).at(-1) ?? '';
  const filled =
    Boolean(def.raw_default) ||
    types.some((t) => t === 'CONSTR_DEFAULT' || t === 'CONSTR_IDENTITY' || t === 'CONSTR_GENERATED') ||
    /serial/.test(typeName);
  return notNull && !filled;
}

function tableName(relation: RangeVar | undefined): string {
  return normalizeField(
    [relation?.schemaname, relation?.relname ?? '?']
      .filter(Boolean)
      .join('.')
      .replace(/^public\./, ''),
  );
}

function qualifiedName(node: Node): string {
  const items = 'List' in node ? (node.List.items ?? []) : [node];
  return normalizeField(
    items
      .map((i) => ('String' in i ? i.String.sval : '?'))
      .join('.')
      .replace(/^public\./, ''),
  );
}
