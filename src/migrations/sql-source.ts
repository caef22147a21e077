import type { Node } from 'libpg-query';

/**
 * The SQL parser, loaded on first use: its WebAssembly takes about 100 ms of CPU to load, which every
 * worker start paid before (a restarted worker then polled later), though only migrations use it.
 */
export const sqlParser = () => import('libpg-query');

/**
 * A migration's SQL as the PostgreSQL parser splits it, with each statement's own source text and
 * line. Everything here is linear in the size of the file: the parser reports byte offsets, so the
 * file is encoded once and line numbers come from one table of line starts (a 5 MB file must not
 * be decoded again for every statement).
 */

/** One top-level statement: its parse tree, its source (without leading comments) and where it starts. */
export interface SourceStatement {
  stmt: Node | undefined;
  /** The statement's text, from its first token to its end (without the separating semicolon). */
  text: string;
  /** 1-based line of the statement's first token. */
  line: number;
  /** The comments right above the statement (between the previous statement and this one). */
  comments: string[];
}

/** A statement the parser rejects: the line it points at and its message. */
export class SqlSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
    this.name = 'SqlSyntaxError';
  }
}

/** Maps a byte offset of `bytes` to its 1-based line, after one pass over the bytes. */
export function lineIndex(bytes: Uint8Array, firstLine = 1): (offset: number) => number {
  const starts = [0];
  for (let i = bytes.indexOf(10); i !== -1; i = bytes.indexOf(10, i + 1)) starts.push(i + 1);
  return (offset) => {
    let [low, high] = [0, starts.length - 1];
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((starts[mid] ?? 0) <= offset) low = mid;
      else high = mid - 1;
    }
    return low + firstLine;
  };
}

/** Splits `sql` into statements; throws SqlSyntaxError with the line the parser points at. */
export async function sourceStatements(sql: string, firstLine = 1): Promise<SourceStatement[]> {
  const bytes = Buffer.from(sql, 'utf8');
  const lineAt = lineIndex(bytes, firstLine);
  const { hasSqlDetails, parse } = await sqlParser();
  let raw;
  try {
    raw = (await parse(sql)).stmts ?? [];
  } catch (error) {
    const cursor = hasSqlDetails(error) ? (error.sqlDetails?.cursorPosition ?? 0) : 0;
    // libpg-query's cursor counts characters from 0; the line table counts bytes.
    const offset = Buffer.byteLength(sql.slice(0, cursor));
    throw new SqlSyntaxError((error as Error).message, lineAt(offset));
  }
  // The parser's statement locations skip comments: those above a statement are in the gap after the previous one.
  let previousEnd = 0;
  return raw.map((r) => {
    const start = r.stmt_location ?? 0;
    const end = r.stmt_len ? start + r.stmt_len : bytes.length;
    const gap = leadingComments(bytes.subarray(previousEnd, start).toString('utf8')).comments;
    previousEnd = end;
    const source = bytes.subarray(start, end).toString('utf8');
    const { comments, skip } = leadingComments(source);
    return {
      stmt: r.stmt,
      text: source.slice(skip).trimEnd(),
      line: lineAt(start + Buffer.byteLength(source.slice(0, skip))),
      comments: [...gap, ...comments],
    };
  });
}

/** The whitespace, semicolons and comments a text starts with (`--` lines and nested `/* *\/` blocks). */
export function leadingComments(source: string): { comments: string[]; skip: number } {
  const comments: string[] = [];
  let at = 0;
  for (;;) {
    while (at < source.length && /[\s;]/.test(source[at] ?? '')) at++;
    if (source.startsWith('--', at)) {
      const end = source.indexOf('\n', at);
      const stop = end === -1 ? source.length : end;
      comments.push(source.slice(at, stop));
      at = stop;
    } else if (source.startsWith('/*', at)) {
      let depth = 0;
      let i = at;
      do {
        if (source.startsWith('/*', i)) [depth, i] = [depth + 1, i + 2];
        else if (source.startsWith('*/', i)) [depth, i] = [depth - 1, i + 2];
        else i++;
      } while (depth > 0 && i < source.length);
      comments.push(source.slice(at, i));
      at = i;
    } else return { comments, skip: at };
  }
}

/** A statement shown in a message: whitespace collapsed, and long ones cut to a bounded excerpt. */
export function excerpt(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}… (${flat.length} characters)` : flat;
}

/**
 * The part of a migration file node-pg-migrate treats as "up": all of it, or the section after a
 * `-- Up Migration` comment (up to a `-- Down Migration` one), the same rule as its SQL loader.
 * zerodown lints and runs exactly this text.
 */
export function upSection(content: string): { sql: string; firstLine: number } {
  const marker = (direction: string) => new RegExp(`^\\s*--[\\s-]*${direction}\\s+migration`, 'im');
  const up = content.search(marker('up'));
  const down = content.search(marker('down'));
  if (up < 0) return { sql: content, firstLine: 1 };
  const sql = content.slice(up, down < up ? undefined : down);
  return { sql, firstLine: content.slice(0, up).split('\n').length };
}
