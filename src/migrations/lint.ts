import { badInput } from '../domain/errors.ts';
import { type MigrationFile, type MigrationSet, stepOf } from './declaration.ts';
import { type LintRule, advice, lintRules, reviewableRules, reviewedMarker } from './lint-rules.ts';
import { type Hit, runsOutsideTransaction, statementHits } from './lint-statements.ts';
import { SqlSyntaxError, excerpt, sourceStatements } from './sql-source.ts';

/**
 * Migration linting for rolling deployments (seed §6.1). During a rolling deployment the old
 * version keeps running against the same database, so every migration must leave a schema the old
 * code still works with, and must not hold long locks on tables it uses. Statements are parsed by
 * the real PostgreSQL parser (libpg-query), not matched by patterns, so comments, quoting and odd
 * formatting cannot hide a destructive change; DO blocks and function bodies are parsed and
 * linted too (lint-bodies.ts). A file PostgreSQL would reject is bad input, not a finding.
 */

export { lintRules, type LintRule } from './lint-rules.ts';

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

/**
 * Lints `only` (default: all) of the set's migrations. A contract step may drop exactly the
 * columns it declares in `removes`; whether it may run now is decided against the database when
 * it is applied. Objects created earlier in the same file are new, so changing them is safe.
 * Throws badInput naming every file and line PostgreSQL's parser rejects.
 */
export async function lintMigrations(set: MigrationSet, only?: ReadonlySet<string>): Promise<LintFinding[]> {
  const findings: LintFinding[] = [];
  const syntaxErrors: string[] = [];
  for (const file of set.files) {
    if (only && !only.has(file.name)) continue;
    const step = stepOf(set, file.name);
    const removes = new Set(step?.step === 'contract' ? step.removes : []);
    try {
      findings.push(
        ...(await lintFile(file))
          .filter((f) => !(f.rule === 'drop-column' && removes.has(f.target)))
          .map(({ target: _target, ...f }) => f),
      );
    } catch (error) {
      if (!(error instanceof SqlSyntaxError)) throw error;
      syntaxErrors.push(`  ${file.file}:${error.line}: ${error.message}`);
    }
  }
  if (syntaxErrors.length > 0)
    throw badInput(
      `${syntaxErrors.length} migration file(s) are not valid PostgreSQL:\n${syntaxErrors.join('\n')}`,
      'Fix the SQL (PostgreSQL would reject it when applying); nothing was applied.',
    );
  return findings;
}

type Raw = LintFinding & { target: string };

/** One pass over the file: statements are split once, and each line number is a lookup. */
async function lintFile(file: MigrationFile): Promise<Raw[]> {
  const statements = await sourceStatements(file.up.sql, file.up.firstLine);
  const scope = { created: new Set<string>(), depth: 0 };
  const findings: Raw[] = [];
  for (const s of statements) {
    let hits: Hit[];
    try {
      hits = await statementHits(s.stmt, s.text, scope);
    } catch (error) {
      // Errors inside a body count their line from the statement's first line.
      if (error instanceof SqlSyntaxError) throw new SqlSyntaxError(error.message, s.line + error.line);
      throw error;
    }
    const reviewed = s.comments.some((c) => reviewedMarker.test(c));
    for (const hit of hits) {
      if (reviewed && reviewableRules.has(hit.rule)) continue;
      findings.push({
        migration: file.name,
        file: file.file,
        line: s.line + (hit.inner?.lineOffset ?? 0),
        statement: excerpt(hit.inner?.text ?? s.text),
        rule: hit.rule,
        message: `${lintRules[hit.rule]} (${hit.target})${hit.context ? `, ${hit.context} at line ${s.line}` : ''}`,
        advice: advice[hit.rule](hit.target),
        target: hit.target,
      });
    }
  }
  const outside = statements.filter((s) => runsOutsideTransaction(s.stmt));
  const inside = statements.find((s) => !runsOutsideTransaction(s.stmt));
  if (outside.length > 0 && inside) {
    findings.push({
      migration: file.name,
      file: file.file,
      line: inside.line,
      statement: excerpt(inside.text),
      rule: 'mixed-transaction',
      message: `${lintRules['mixed-transaction']} (line ${outside[0]?.line} cannot run in a transaction, this one must)`,
      advice: advice['mixed-transaction'](''),
      target: '',
    });
  }
  return findings;
}
