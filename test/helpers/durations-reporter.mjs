/**
 * A node:test reporter that writes, at the end of a run, how long each test file took: the sum of
 * its top-level tests' durations (one JSON object, file path → milliseconds). scripts/test.ts runs
 * it beside the spec reporter, prints the slowest files and starts the longest first next time.
 * Plain JavaScript: node loads reporters before tsx's loader is in place.
 *
 * @param {AsyncIterable<{ type: string, data?: { nesting?: number, file?: string, details?: { duration_ms?: number } } }>} source
 */
export default async function* durationsReporter(source) {
  const byFile = new Map();
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { nesting, file, details } = event.data ?? {};
    if (nesting !== 0 || !file || details?.duration_ms === undefined) continue;
    byFile.set(file, (byFile.get(file) ?? 0) + details.duration_ms);
  }
  yield `${JSON.stringify(Object.fromEntries([...byFile].map(([file, ms]) => [file, Math.round(ms)])))}\n`;
}
