import type { LintFinding } from './lint.ts';

/** Findings as a person reads them: file:line, rule, the statement, and the multi-step way. */
export function formatFindings(findings: readonly LintFinding[]): string {
  return findings
    .map(
      (f) =>
        `  ${f.file}:${f.line} [${f.rule}] ${f.message}\n    statement: ${f.statement || '(unparsable)'}\n    instead: ${f.advice}`,
    )
    .join('\n');
}
