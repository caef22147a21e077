import type { AlterTableCmd, ColumnDef, Constraint, Node, RangeVar } from 'libpg-query';
import { normalizeField } from './declaration.ts';
import { codeBlockHits } from './lint-bodies.ts';
import type { LintRule } from './lint-rules.ts';
import { sourceStatements } from './sql-source.ts';

/** A rule a statement breaks, with the table or column it concerns and, for code in a body, where. */
export interface Hit {
  rule: LintRule;
  target: string;
  /** e.g. "in the DO block": where inside the top-level statement the offending code is. */
  context?: string;
  /** The offending statement inside a body, and its line counted from the top-level statement's first line. */
  inner?: { text: string; lineOffset: number };
}

/**
 * What is known while walking a file: the tables, views and schemas it created itself (changing
 * those is safe: no running version uses them yet), and how deep in nested bodies the walk is.
 */
export interface Scope {
  created: Set<string>;
  depth: number;
}

/**
 * Lints SQL found inside a statement (a function's body, a statement of a DO block). Hits carry
 * `inner` with a line offset counted from the start of `sql`; a syntax error is thrown as
 * SqlSyntaxError whose line is that offset too.
 */
export async function sqlHits(sql: string, scope: Scope): Promise<Hit[]> {
  const hits: Hit[] = [];
  for (const s of await sourceStatements(sql, 0)) {
    for (const h of await statementHits(s.stmt, s.text, scope)) {
      hits.push({
        ...h,
        inner: h.inner ? { ...h.inner, lineOffset: s.line + h.inner.lineOffset } : { text: s.text, lineOffset: s.line },
      });
    }
  }
  return hits;
}

/** The rules one statement breaks; `text` is its source (bodies of DO blocks and functions are parsed from it). */
export async function statementHits(stmt: Node | undefined, text: string, scope: Scope): Promise<Hit[]> {
  if (!stmt) return [];
  const isNew = (table: string) => scope.created.has(table);
  const existing = (rels: Array<RangeVar | undefined>, rule: LintRule): Hit[] =>
    rels
      .map(tableName)
      .filter((t) => !isNew(t))
      .map((target) => ({ rule, target }));

  if ('DoStmt' in stmt || 'CreateFunctionStmt' in stmt)
    return await codeBlockHits(stmt, text, scope, { sql: sqlHits, statement: statementHits });
  // IF NOT EXISTS or OR REPLACE may meet an object that exists and is in use: that one is not new.
  if ('CreateStmt' in stmt) return created(scope, !stmt.CreateStmt.if_not_exists, tableName(stmt.CreateStmt.relation));
  if ('CreateTableAsStmt' in stmt) {
    const { if_not_exists, into } = stmt.CreateTableAsStmt;
    return created(scope, !if_not_exists, tableName(into?.rel));
  }
  if ('ViewStmt' in stmt) return created(scope, !stmt.ViewStmt.replace, tableName(stmt.ViewStmt.view));
  if ('CreateSchemaStmt' in stmt)
    return created(
      scope,
      !stmt.CreateSchemaStmt.if_not_exists,
      normalizeField(stmt.CreateSchemaStmt.schemaname ?? '?'),
    );
  if ('SelectStmt' in stmt && stmt.SelectStmt.intoClause)
    return created(scope, true, tableName(stmt.SelectStmt.intoClause.rel));
  if ('VariableSetStmt' in stmt && stmt.VariableSetStmt.name?.toLowerCase() === 'search_path') {
    // Unqualified names may now mean other tables: nothing created so far counts as new any more.
    scope.created.clear();
    return [];
  }
  if ('DropStmt' in stmt) {
    const { removeType, objects = [], behavior } = stmt.DropStmt;
    const kinds = ['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE', 'OBJECT_SCHEMA'];
    const names = objects.map((o) => qualifiedName(o)).filter((t) => !isNew(t));
    if (kinds.includes(removeType ?? '')) return names.map((target) => ({ rule: 'drop-table', target }));
    // A type, function, sequence or extension dropped with CASCADE takes the columns and tables using it along.
    const kind = (removeType ?? '').replace('OBJECT_', '').toLowerCase();
    return behavior === 'DROP_CASCADE' ? names.map((n) => ({ rule: 'drop-cascade', target: `${kind} ${n}` })) : [];
  }
  if ('DropOwnedStmt' in stmt) return [{ rule: 'drop-cascade', target: 'everything the role owns' }];
  if ('TruncateStmt' in stmt)
    return existing(
      (stmt.TruncateStmt.relations ?? []).flatMap((r) => ('RangeVar' in r ? [r.RangeVar] : [])),
      'truncate',
    );
  if ('LockStmt' in stmt)
    return existing(
      (stmt.LockStmt.relations ?? []).flatMap((r) => ('RangeVar' in r ? [r.RangeVar] : [])),
      'lock-table',
    );
  if ('ClusterStmt' in stmt) {
    const { relation } = stmt.ClusterStmt;
    return relation ? existing([relation], 'cluster') : [{ rule: 'cluster', target: 'every clustered table' }];
  }
  if ('VacuumStmt' in stmt) {
    const { options = [], rels = [], is_vacuumcmd } = stmt.VacuumStmt;
    const full = options.some(
      (o) =>
        'DefElem' in o &&
        o.DefElem.defname === 'full' &&
        !['false', 'off', '0'].includes(String(argValue(o.DefElem.arg)).toLowerCase()),
    );
    if (!is_vacuumcmd || !full) return [];
    const tables = rels.flatMap((r) => ('VacuumRelation' in r ? [r.VacuumRelation.relation] : []));
    return tables.length > 0 ? existing(tables, 'vacuum-full') : [{ rule: 'vacuum-full', target: 'every table' }];
  }
  if ('IndexStmt' in stmt) {
    const { concurrent, relation } = stmt.IndexStmt;
    return concurrent ? [] : existing([relation], 'create-index-blocking');
  }
  if ('RenameStmt' in stmt) {
    const { renameType, relation, subname } = stmt.RenameStmt;
    const table = tableName(relation);
    if (isNew(table)) return [];
    if (renameType === 'OBJECT_COLUMN') return [{ rule: 'rename-column', target: `${table}.${subname}` }];
    if (renameType === 'OBJECT_TABLE' || renameType === 'OBJECT_VIEW') return [{ rule: 'rename-table', target: table }];
    return [];
  }
  if ('AlterObjectSchemaStmt' in stmt) {
    const { objectType, relation } = stmt.AlterObjectSchemaStmt;
    return objectType === 'OBJECT_TABLE' || objectType === 'OBJECT_VIEW' ? existing([relation], 'rename-table') : [];
  }
  if ('AlterTableStmt' in stmt) {
    const table = tableName(stmt.AlterTableStmt.relation);
    if (isNew(table)) return [];
    return (stmt.AlterTableStmt.cmds ?? []).flatMap((c) =>
      'AlterTableCmd' in c ? alterHits(table, c.AlterTableCmd) : [],
    );
  }
  return [];
}

/** Statements PostgreSQL refuses to run inside a transaction block: such a migration runs without one. */
export function runsOutsideTransaction(stmt: Node | undefined): boolean {
  if (!stmt) return false;
  if ('IndexStmt' in stmt) return Boolean(stmt.IndexStmt.concurrent);
  if ('DropStmt' in stmt) return Boolean(stmt.DropStmt.concurrent);
  if ('ReindexStmt' in stmt)
    return (stmt.ReindexStmt.params ?? []).some((p) => 'DefElem' in p && p.DefElem.defname === 'concurrently');
  if ('VacuumStmt' in stmt) return Boolean(stmt.VacuumStmt.is_vacuumcmd);
  return false;
}

function created(scope: Scope, isNew: boolean, name: string): Hit[] {
  if (isNew) scope.created.add(name);
  return [];
}

function alterHits(table: string, cmd: AlterTableCmd): Hit[] {
  const column = `${table}.${cmd.name ?? '?'}`;
  switch (cmd.subtype) {
    case 'AT_DropColumn':
      return [{ rule: 'drop-column', target: column }];
    case 'AT_AlterColumnType':
      return [{ rule: 'change-column-type', target: column }];
    case 'AT_SetNotNull':
      return [{ rule: 'set-not-null', target: column }];
    case 'AT_AddConstraint':
      return cmd.def && 'Constraint' in cmd.def ? constraintHits(table, cmd.def.Constraint) : [];
    case 'AT_AddColumn': {
      const def = cmd.def && 'ColumnDef' in cmd.def ? cmd.def.ColumnDef : undefined;
      if (!def) return [];
      const target = `${table}.${def.colname}`;
      const constraints = (def.constraints ?? []).flatMap((c) => ('Constraint' in c ? [c.Constraint] : []));
      return [
        ...(notNullWithoutDefault(def, constraints) ? [{ rule: 'add-not-null-without-default', target } as Hit] : []),
        ...constraints.flatMap((c) => constraintHits(table, c, target)),
      ];
    }
    default:
      return [];
  }
}

/** A constraint added to an existing table: validated at once, or building an index while writes wait. */
function constraintHits(table: string, c: Constraint, column?: string): Hit[] {
  const kinds: Record<string, string> = {
    CONSTR_FOREIGN: 'foreign key',
    CONSTR_CHECK: 'check',
    CONSTR_PRIMARY: 'primary key',
    CONSTR_UNIQUE: 'unique',
    CONSTR_EXCLUSION: 'exclusion',
  };
  const kind = kinds[c.contype ?? ''];
  if (!kind) return [];
  const target = `${kind} constraint${c.conname ? ` ${c.conname}` : ''} on ${column ?? table}`;
  if ((c.contype === 'CONSTR_FOREIGN' || c.contype === 'CONSTR_CHECK') && !c.skip_validation)
    return [{ rule: 'constraint-without-not-valid', target }];
  if (kind !== 'foreign key' && kind !== 'check' && !c.indexname) return [{ rule: 'create-index-blocking', target }];
  return [];
}

function notNullWithoutDefault(def: ColumnDef, constraints: Constraint[]): boolean {
  const types = constraints.flatMap((c) => (c.contype ? [c.contype] : []));
  const notNull = def.is_not_null || types.includes('CONSTR_NOTNULL') || types.includes('CONSTR_PRIMARY');
  const typeName = (def.typeName?.names ?? []).map((n) => ('String' in n ? n.String.sval : '')).at(-1) ?? '';
  const filled =
    Boolean(def.raw_default) ||
    types.some((t) => t === 'CONSTR_DEFAULT' || t === 'CONSTR_IDENTITY' || t === 'CONSTR_GENERATED') ||
    /serial/.test(typeName);
  return notNull && !filled;
}

function argValue(arg: Node | undefined): unknown {
  if (!arg) return true;
  if ('String' in arg) return arg.String.sval;
  if ('Integer' in arg) return arg.Integer.ival ?? 0;
  if ('Boolean' in arg) return arg.Boolean.boolval ?? false;
  return true;
}

export function tableName(relation: RangeVar | undefined): string {
  return normalizeField(
    [relation?.schemaname, relation?.relname ?? '?']
      .filter(Boolean)
      .join('.')
      .replace(/^public\./, ''),
  );
}

function qualifiedName(node: Node): string {
  const items =
    'List' in node
      ? (node.List.items ?? [])
      : 'TypeName' in node
        ? (node.TypeName.names ?? [])
        : 'ObjectWithArgs' in node
          ? (node.ObjectWithArgs.objname ?? [])
          : [node];
  return normalizeField(
    items
      .map((i) => ('String' in i ? i.String.sval : '?'))
      .join('.')
      .replace(/^public\./, ''),
  );
}
