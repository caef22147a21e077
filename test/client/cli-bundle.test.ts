import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Metafile } from 'esbuild';
import { bundleCli } from '../../scripts/bundle-cli.mjs';
import { projectRoot } from '../../src/paths.ts';

let out: string;
let meta: Metafile;

before(async () => {
  out = mkdtempSync(path.join(tmpdir(), 'zerodown-cli-bundle-'));
  meta = await bundleCli(projectRoot, out);
});
after(() => rmSync(out, { recursive: true, force: true }));

/** The output built from the source file `source` (the entry point or a lazily imported command). */
function outputOf(source: string): string {
  const found = Object.entries(meta.outputs).find(([, o]) => o.entryPoint && path.resolve(o.entryPoint) === source);
  assert.ok(found, `an output for ${source}`);
  return found[0];
}

/** Every source file a process loads on its way to `outputs`: static imports only, as Node runs them. */
function loadedInputs(...outputs: string[]): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const i of meta.outputs[file]!.imports) if (i.kind === 'import-statement' && !i.external) visit(i.path);
  };
  outputs.forEach(visit);
  return [...seen].flatMap((file) => Object.keys(meta.outputs[file]!.inputs).map((input) => path.resolve(input)));
}

const inPackage = (name: string) => (input: string) =>
  input.includes(`${path.sep}node_modules${path.sep}${name}${path.sep}`);
const src = (file: string) => path.join(projectRoot, 'src', file);

describe('the bundled CLI (scripts/bundle-cli.mjs)', () => {
  it('loads for `zerodown status` the Temporal client, and neither the worker SDK nor the live view', () => {
    const loaded = loadedInputs(outputOf(src('client/main.ts')), outputOf(src('client/commands/status.ts')));
    assert.ok(loaded.some(inPackage('@temporalio/client')), 'the client is in the bundle');
    assert.ok(loaded.includes(src('client/commands/status.ts')));
    for (const absent of ['@temporalio/worker', '@temporalio/core-bridge', 'log-update'])
      assert.ok(!loaded.some(inPackage(absent)), `status does not load ${absent}`);
  });

  it('runs the worker with one copy of each Temporal package: all bundled, none left to node_modules', () => {
    const loaded = loadedInputs(outputOf(src('client/commands/worker.ts')));
    for (const name of ['@temporalio/worker', '@temporalio/activity', '@temporalio/client', '@temporalio/common'])
      assert.ok(loaded.some(inPackage(name)), `the worker command bundles ${name}`);
    const external = Object.values(meta.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
    assert.deepEqual(
      external.filter((p) => p.startsWith('@temporalio/')),
      [],
      'no output imports a Temporal package from node_modules',
    );
    assert.ok(external.includes('webpack'), 'webpack (only used to build workflow bundles) stays in node_modules');
  });

  it('points code that finds files beside itself at its compiled twin in dist/', () => {
    const twin = path
      .relative(out, path.join(projectRoot, 'dist', 'fleet', 'sample-service.js'))
      .split(path.sep)
      .join('/');
    const texts = Object.keys(meta.outputs)
      .filter((file) => file.endsWith('.js'))
      .map((file) => readFileSync(path.resolve(file), 'utf8'));
    assert.ok(
      // The bundle is written without layout (scripts/bundle-cli.mjs): no space after the comma.
      texts.some((text) => text.includes(`new URL(${JSON.stringify(twin)},import.meta.url)`)),
      `sample-service.ts's import.meta.url is ${twin}`,
    );
    assert.ok(
      texts.some((text) => text.includes('require.resolve("./workflow-worker-thread.cjs")')),
      "the worker's thread script is resolved beside the CLI's files",
    );
  });

  it('writes every file in ASCII, so Node and V8 read each as a one-byte string', () => {
    for (const file of Object.keys(meta.outputs).filter((f) => /\.c?js$/.test(f))) {
      const at = readFileSync(path.resolve(file)).findIndex((byte) => byte > 0x7f);
      assert.equal(at, -1, `${file} has a byte outside ASCII at ${at}`);
    }
  });

  it("bundles the workflow thread's script into one file that loads nothing of the SDK from node_modules", () => {
    const thread = Object.entries(meta.outputs).find(([file]) => file.endsWith('workflow-worker-thread.cjs'));
    assert.ok(thread, 'workflow-worker-thread.cjs is an output');
    const inputs = Object.keys(thread[1].inputs).map((input) => path.resolve(input));
    for (const name of ['@temporalio/worker', '@temporalio/common', '@temporalio/proto', '@temporalio/workflow'])
      assert.ok(inputs.some(inPackage(name)), `the thread bundles ${name}`);
    assert.deepEqual(
      thread[1].imports.filter((i) => i.external && !isBuiltin(i.path)).map((i) => i.path),
      [],
      'the thread imports no package from node_modules',
    );
  });
});
