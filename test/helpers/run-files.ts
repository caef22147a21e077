import { writeFileSync } from 'node:fs';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

/**
 * node's test runner over the files named, two at a time, in the order given: scripts/test.ts
 * orders them longest first (`node --test <files>` sorts its files by name, so it cannot). The spec
 * report goes to stdout. With ZERODOWN_TEST_DURATIONS set, that file gets how long each test file
 * took at the end: the sum of its top-level tests' durations (JSON, path → ms).
 * Usage: node --import tsx test/helpers/run-files.ts <file> ...
 */

interface TestEventData {
  nesting: number;
  file?: string;
  details: { duration_ms: number };
}

const byFile = new Map<string, number>();
const count = ({ nesting, file, details }: TestEventData) => {
  if (nesting === 0 && file) byFile.set(file, (byFile.get(file) ?? 0) + details.duration_ms);
};

const stream = run({ files: process.argv.slice(2), concurrency: 2 });
stream.on('test:pass', count);
stream.on('test:fail', (data: TestEventData) => {
  process.exitCode = 1;
  count(data);
});
// The spec reporter: a Transform of the test events into the usual text.
stream.pipe(new spec()).pipe(process.stdout);

const durations = process.env.ZERODOWN_TEST_DURATIONS;
if (durations) process.on('exit', () => writeFileSync(durations, JSON.stringify(Object.fromEntries(byFile))));
