// Compiles src/ into dist/ for the installed CLI and the worker (run by scripts/setup.sh; `npm run build`),
// then bundles the CLI into dist/cli/ (scripts/bundle-cli.mjs).
// Development and tests keep running the sources through tsx; bin/zerodown.js picks dist/ only while it is
// newer than every source file. dist/ is git-ignored.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');

// A clean build, so a deleted source file cannot linger as a stale .js.
rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(
  process.execPath,
  [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
if (tsc.status !== 0) {
  process.stderr.write(
    `zerodown build: tsc exited ${tsc.status}; read its errors above, fix them and run npm run build again\n`,
  );
  process.exit(1);
}

// Files the code reads at run time beside itself (the sample service, its hooks) come along unchanged.
for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || entry.name.endsWith('.ts')) continue;
  const from = path.join(entry.parentPath, entry.name);
  const to = path.join(dist, path.relative(src, from));
  mkdirSync(path.dirname(to), { recursive: true });
  cpSync(from, to);
}

// The command index lets the compiled CLI load one command file instead of all (src/client/command-index.ts).
const { describeCommands } = await import(path.join(dist, 'client/command-index.js'));
writeFileSync(path.join(dist, 'client/command-index.json'), `${JSON.stringify(await describeCommands(), null, 2)}\n`);

// The workflow code, bundled once here instead of at every worker start (src/worker.ts picks it up).
const { bundleWorkflowCode } = await import('@temporalio/worker');
const { workflowBundleOptions } = await import(path.join(dist, 'temporal', 'workflow-bundle.js'));
const bundle = await bundleWorkflowCode({
  ...workflowBundleOptions(path.join(dist, 'workflows', 'index.js')),
  logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
});
// Its source map without the sources' text, and only ASCII (scripts/workflow-bundle.mjs says why).
const { asciiOnly, withoutSourcesContent } = await import('./workflow-bundle.mjs');
writeFileSync(path.join(dist, 'workflow-bundle.js'), asciiOnly(withoutSourcesContent(bundle.code)));

// The CLI as a few bundled files (scripts/bundle-cli.mjs): bin/zerodown.js runs dist/cli/main.js.
const { bundleCli } = await import('./bundle-cli.mjs');
await bundleCli(root);

// Written last: bin/zerodown.js uses dist/ only when this stamp is newer than every source file.
writeFileSync(path.join(dist, '.build-stamp'), `${new Date().toISOString()}\n`);
process.stdout.write(`zerodown build: compiled src/ into ${path.relative(process.cwd(), dist) || dist}/\n`);
