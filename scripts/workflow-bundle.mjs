// What the build (scripts/build.mjs) does to the workflow bundle after the SDK made it; the test harness
// (scripts/test.ts) writes its bundle through `asciiOnly` too, so the tests run the bundle as workers do.
import vm from 'node:vm';

/**
 * The bundle's inline source map without the copies of its sources (1.7 of its 5 MB): every worker
 * start decodes and parses that map, so a restarted worker polls about 150 ms sooner. Stack traces
 * still name each file and line (the files are in dist/); what is lost is the source text that the
 * enhanced stack-trace query (`__enhanced_stack_trace`, used by debuggers) would send along.
 */
export function withoutSourcesContent(code) {
  // The SDK reads the map back the same way: the last such comment, its data after `base64,`.
  const at = code.lastIndexOf('//# sourceMappingURL=data:');
  const data = code.indexOf('base64,', at) + 'base64,'.length;
  if (at < 0 || data < at) throw new Error('the workflow bundle has no inline source map');
  const map = JSON.parse(Buffer.from(code.slice(data).trim(), 'base64').toString('utf8'));
  delete map.sourcesContent;
  return `${code.slice(0, data)}${Buffer.from(JSON.stringify(map)).toString('base64')}\n`;
}

/**
 * The same program with every character outside ASCII written as a `\u` escape (a character beyond
 * the Basic Multilingual Plane as its two surrogates). A few dashes and arrows in comments and
 * messages made the whole bundle a two-byte string, which the worker decoded when it read the file
 * and V8 scanned when the workflow thread compiled it, both on their slow paths, at every start.
 * An escape means the same character in a string, a template, a regular expression (with the `u`
 * flag, two escaped surrogates are one code point) and an identifier, and is inert in a comment.
 * What it would change is a raw template (`String.raw`), and a line or paragraph separator (U+2028,
 * U+2029) that ends a comment, so a bundle with either is left as it is; and
 * the result is compiled (not run) here, so a bundle it broke fails the build instead of a worker.
 */
export function asciiOnly(code) {
  if (!/[\u0080-\uffff]/.test(code) || code.includes('String.raw') || /[\u2028\u2029]/.test(code)) return code;
  const escaped = code.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  new vm.Script(escaped, { filename: 'workflow-bundle.js' });
  return escaped;
}
