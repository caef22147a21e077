import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * How long each test file takes, so scripts/test.ts can start the longest first: with two files at
 * a time, a long file started last would run alone at the end. `test/durations.json` holds measured
 * seconds (committed, for a fresh machine); each run also records its own measurements in
 * `.test-state/durations.json`, which win over the committed ones on the next run.
 */

export type Durations = Record<string, number>;

function readDurations(file: string): Durations {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (!parsed || typeof parsed !== 'object') return {};
    return Object.fromEntries(
      Object.entries(parsed).filter((entry): entry is [string, number] => typeof entry[1] === 'number'),
    );
  } catch {
    return {};
  }
}

const committedFile = (root: string) => path.join(root, 'test', 'durations.json');
const measuredFile = (root: string) => path.join(root, '.test-state', 'durations.json');

/** Seconds per test file (paths relative to `root`): the committed table, overridden by the last local runs. */
export function knownDurations(root: string): Durations {
  return { ...readDurations(committedFile(root)), ...readDurations(measuredFile(root)) };
}

/** `files` (absolute paths), longest first by `known`; unknown files after, in their given order. */
export function longestFirst(files: string[], root: string, known: Durations): string[] {
  const seconds = (file: string) => known[path.relative(root, file)] ?? -1;
  return files
    .map((file, index) => ({ file, index }))
    .sort((a, b) => seconds(b.file) - seconds(a.file) || a.index - b.index)
    .map(({ file }) => file);
}

/**
 * Reads what the durations reporter wrote (absolute path → ms), records it for the next run (merged
 * with earlier measurements of other files) and returns it in seconds, slowest first.
 */
export function recordDurations(reported: string, root: string): Array<[string, number]> {
  let measured: Durations;
  try {
    measured = JSON.parse(readFileSync(reported, 'utf8')) as Durations;
  } catch {
    return [];
  }
  const seconds = Object.entries(measured)
    .map(([file, ms]): [string, number] => [path.relative(root, file), Math.round(ms / 100) / 10])
    .sort((a, b) => b[1] - a[1]);
  mkdirSync(path.dirname(measuredFile(root)), { recursive: true });
  const merged = { ...readDurations(measuredFile(root)), ...Object.fromEntries(seconds) };
  writeFileSync(measuredFile(root), `${JSON.stringify(merged, null, 2)}\n`);
  return seconds;
}
