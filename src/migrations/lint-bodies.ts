import type { CreateFunctionStmt, Node } from 'libpg-query';
import type { Hit, Scope } from './lint-statements.ts';
import { SqlSyntaxError, sqlParser } from './sql-source.ts';

/**
 * Code inside a statement: DO blocks and the bodies of functions and procedures. A body is code
 * the migration (or a later `SELECT f()`, a trigger, the application) runs, so its statements
 * meet the same rules as the file's own. PL/pgSQL is parsed with libpg-query's `parsePlPgSQL`
 * and every static SQL statement in it is linted; what cannot be seen before it runs (EXECUTE of
 * dynamic SQL, code in other languages) is refused unless marked as reviewed (docs/migrations.md).
 */

/** The statement-level linter, passed in so this module and lint-statements.ts do not import each other. */
export interface Linter {
  sql(sql: string, scope: Scope): Promise<Hit[]>;
  statement(stmt: Node | undefined, text: string, scope: Scope): Promise<Hit[]>;
}

/** Bodies inside bodies inside bodies are refused rather than walked without end. */
const maxDepth = 4;

export async function codeBlockHits(stmt: Node, text: string, scope: Scope, lint: Linter): Promise<Hit[]> {
  // A body runs later or in its own block: what it creates is not "new" to the rest of the file.
  const inner: Scope = { created: new Set(scope.created), depth: scope.depth + 1 };
  if ('DoStmt' in stmt) {
    const args = options(stmt.DoStmt.args);
    const context = 'in the DO block';
    return within(context, await bodyHits(args.language ?? 'plpgsql', args.as ?? '', text, inner, lint, context));
  }
  if (!('CreateFunctionStmt' in stmt)) return [];
  const fn: CreateFunctionStmt = stmt.CreateFunctionStmt;
  const name = (fn.funcname ?? []).map((n) => ('String' in n ? n.String.sval : '?')).join('.');
  const context = `in the body of ${fn.is_procedure ? 'procedure' : 'function'} ${name}`;
  if (fn.sql_body) {
    // BEGIN ATOMIC ... END: already parsed, as a list of statement lists.
    const hits: Hit[] = [];
    for (const node of flatten(fn.sql_body)) hits.push(...(await lint.statement(node, text, inner)));
    return within(context, hits);
  }
  const args = options(fn.options);
  return within(context, await bodyHits(args.language ?? 'sql', args.as ?? '', text, inner, lint, context));
}

async function bodyHits(
  language: string,
  body: string,
  text: string,
  scope: Scope,
  lint: Linter,
  context: string,
): Promise<Hit[]> {
  if (scope.depth > maxDepth) return [{ rule: 'opaque-code', target: `code nested more than ${maxDepth} levels deep` }];
  const offset = linesBefore(text, body);
  switch (language.toLowerCase()) {
    case 'sql':
      try {
        return shift(await lint.sql(body, scope), offset);
      } catch (error) {
        // PostgreSQL parses a SQL function's body when the function is created, so this is the file's own error.
        if (error instanceof SqlSyntaxError)
          throw new SqlSyntaxError(`${context}: ${error.message}`, offset + error.line);
        throw error;
      }
    case 'plpgsql':
      return await plpgsqlHits(text, offset, scope, lint);
    default:
      return [{ rule: 'opaque-code', target: `code in language ${language}` }];
  }
}

/** Walks the PL/pgSQL tree: static SQL is linted, dynamic SQL is reported. */
async function plpgsqlHits(text: string, bodyLine: number, scope: Scope, lint: Linter): Promise<Hit[]> {
  let tree: unknown;
  try {
    tree = await (await sqlParser()).parsePlPgSQL(text);
  } catch (error) {
    return [{ rule: 'opaque-code', target: `PL/pgSQL the parser cannot read: ${(error as Error).message}` }];
  }
  const hits: Hit[] = [];
  // PL/pgSQL counts lines from the line where the body starts (1).
  const at = (lineno: number) => bodyLine + Math.max(0, lineno - 1);
  const visit = async (node: unknown, lineno: number): Promise<void> => {
    if (Array.isArray(node)) {
      for (const item of node) await visit(item, lineno);
      return;
    }
    if (!node || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    const here = typeof record.lineno === 'number' ? record.lineno : lineno;
    for (const [key, value] of Object.entries(record)) {
      if (key === 'PLpgSQL_stmt_dynexecute' || key === 'PLpgSQL_stmt_dynfors' || key === 'dynquery') {
        const line = (value as { lineno?: number }).lineno ?? here;
        const expr = key === 'dynquery' ? value : (value as { query?: unknown }).query;
        const query = (expr as { PLpgSQL_expr?: { query?: string } } | undefined)?.PLpgSQL_expr?.query ?? '';
        hits.push({
          rule: 'dynamic-sql',
          target: 'EXECUTE',
          inner: { text: `EXECUTE ${query}`, lineOffset: at(line) },
        });
      } else if (key === 'PLpgSQL_expr') {
        const { query = '', parseMode = 0 } = value as { query?: string; parseMode?: number };
        // Mode 0 is a whole SQL statement; other modes are expressions, which cannot change the schema.
        if (parseMode === 0) hits.push(...(await embeddedSql(query, at(here), scope, lint)));
      } else await visit(value, here);
    }
  };
  await visit(tree, 1);
  return hits;
}

async function embeddedSql(query: string, line: number, scope: Scope, lint: Linter): Promise<Hit[]> {
  try {
    return shift(await lint.sql(query, scope), line);
  } catch (error) {
    if (!(error instanceof SqlSyntaxError)) throw error;
    return [
      {
        rule: 'opaque-code',
        target: `a statement the parser cannot read: ${error.message}`,
        inner: { text: query, lineOffset: line },
      },
    ];
  }
}

const within = (context: string, hits: Hit[]): Hit[] =>
  hits.map((h) => ({ ...h, context: h.context ? `${context}, ${h.context}` : context }));

const shift = (hits: Hit[], lines: number): Hit[] =>
  hits.map((h) => (h.inner ? { ...h, inner: { ...h.inner, lineOffset: h.inner.lineOffset + lines } } : h));

/** How many lines of `text` come before `body` (0 when the body is not verbatim in it, e.g. quoted with '). */
function linesBefore(text: string, body: string): number {
  const at = body ? text.indexOf(body) : -1;
  if (at < 0) return 0;
  let lines = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < at; i = text.indexOf('\n', i + 1)) lines++;
  return lines;
}

/** DefElem options (`language`, `as`) as strings; `as` is the body (a C function's link symbol is ignored). */
function options(elems: Node[] | undefined): { language?: string; as?: string } {
  const result: { language?: string; as?: string } = {};
  for (const e of elems ?? []) {
    if (!('DefElem' in e)) continue;
    const { defname, arg } = e.DefElem;
    const first = arg && 'List' in arg ? arg.List.items?.[0] : arg;
    const value = first && 'String' in first ? first.String.sval : undefined;
    if (defname === 'language' || defname === 'as') result[defname] = value;
  }
  return result;
}

function flatten(node: Node): Node[] {
  return 'List' in node ? (node.List.items ?? []).flatMap(flatten) : [node];
}
