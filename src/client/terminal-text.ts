/**
 * Text that reaches a terminal. A service name, a fleet-file key or a reason can carry control
 * characters (ESC[2J clears the screen) or bidi marks (U+202E reverses what follows), so every
 * message is escaped where it is printed, and an echoed value of any length shows a bounded excerpt.
 */

// C0 controls but tab and newline, DEL and C1 controls, and the invisible or reordering marks:
// Arabic letter mark, zero-width spaces and joiners, LRM/RLM, line/paragraph separators,
// bidi embeddings, overrides and isolates, word joiner and invisible operators, BOM.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const unsafe = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** The longest run of non-blank characters printed whole; a longer one shows its start and end. */
export const maxWordLength = 256;
/** The longest line printed whole. */
export const maxLineLength = 2000;

/** Replaces each unsafe character with a `\u` escape of four hex digits, e.g. ESC as `\u001b` (valid inside JSON strings too). */
export function escapeControls(text: string): string {
  return text.replace(unsafe, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function excerpt(text: string, limit: number): string {
  const head = Math.floor(limit * 0.6);
  const tail = Math.floor(limit * 0.2);
  return `${text.slice(0, head)}…[${text.length - head - tail} characters left out]…${text.slice(-tail)}`;
}

/** Escapes unsafe characters and bounds every word and line: what every printed message goes through. */
export function terminalSafe(text: string): string {
  return escapeControls(text)
    .replace(new RegExp(`\\S{${maxWordLength + 1},}`, 'g'), (word) => excerpt(word, maxWordLength))
    .split('\n')
    .map((line) => (line.length > maxLineLength ? excerpt(line, maxLineLength) : line))
    .join('\n');
}
