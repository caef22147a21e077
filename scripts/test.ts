/**
 * The test run: one Temporal dev server for every test file (unless TEMPORAL_ADDRESS names one),
 * the workflow bundle built once, then node's test runner over test/**\/*.test.ts, two files at a
 * time, the longest first (test/helpers/run-files.ts, test/helpers/test-durations.ts). The run's
 * scratch folder is also its tests' TMPDIR; what a run killed from outside left running there is
 * stopped by the next run (test/helpers/run-leftovers.ts). At the end it prints the slowest files.
 * Usage: npm test [-- file-or-folder ...]
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ZerodownError } from '../src/domain/errors.ts';
import { projectRoot } from '../src/paths.ts';
import { startDevServer } from '../src/temporal/dev-server.ts';
import { workflowBundleOptions } from '../src/temporal/workflow-bundle.ts';
import { freePort } from '../test/helpers/ports.ts';
import { asciiOnly } from './workflow-bundle.mjs';
import {
  claimScratch,
  scratchPrefix,
  stopLeftoversOfDeadRuns,
  stopProcessesUnder,
} from '../test/helpers/run-leftovers.ts';
import { knownDurations, longestFirst, recordDurations } from '../test/helpers/test-durations.ts';

function testFiles(roots: string[]): string[] {
  const found: string[] = [];
  const walk = (entry: string) => {
    if (statSync(entry).isDirectory()) {
      for (const name of readdirSync(entry).sort()) walk(path.join(entry, name));
    } else if (entry.endsWith('.test.ts')) {
      found.push(entry);
    }
  };
  for (const root of roots) walk(path.resolve(root));
  return found;
}

async function main(): Promise<number> {
  const files = longestFirst(
    testFiles(process.argv.length > 2 ? process.argv.slice(2) : [path.join(projectRoot, 'test')]),
    projectRoot,
    knownDurations(projectRoot),
  );
  for (const line of await stopLeftoversOfDeadRuns(tmpdir())) process.stderr.write(`test harness: ${line}\n`);
  const scratch = mkdtempSync(path.join(tmpdir(), scratchPrefix));
  // As open as the system's temp folder (sticky, writable by all): tests that run a step as an
  // unprivileged user (test/artifacts/fs-conditions.test.ts) need a TMPDIR that user can write.
  chmodSync(scratch, 0o1777);
  claimScratch(scratch);
  // TMPDIR: every folder a test makes (fleets, releases, HAProxy configs) lies in this run's scratch folder.
  const env: NodeJS.ProcessEnv = { ...process.env, ZERODOWN_TEST_SCRATCH: scratch, TMPDIR: scratch };
  let stopServer = async () => {};
  try {
    if (!process.env.TEMPORAL_ADDRESS) {
      const port = await freePort();
      const uiPort = await freePort();
      const server = await startDevServer(
        { stateDir: path.join(scratch, 'temporal'), ip: '127.0.0.1', port, uiPort, namespace: 'default' },
        { detach: false, quiet: true },
      );
      env.TEMPORAL_ADDRESS = server.address;
      env.ZERODOWN_TEST_UI_URL = server.uiUrl;
      stopServer = async () => {
        const child = server.child;
        if (!child || child.exitCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
        child.kill('SIGKILL');
      };
      process.stderr.write(`test harness: Temporal dev server at ${server.address}, Web UI ${server.uiUrl}\n`);
    }
    const bundle = await bundleWorkflowCode({
      ...workflowBundleOptions(path.join(projectRoot, 'test', 'fixtures', 'workflows.ts')),
      logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
    });
    const bundlePath = path.join(scratch, 'workflow-bundle.js');
    // As the build writes the workers' bundle: only ASCII (scripts/workflow-bundle.mjs).
    writeFileSync(bundlePath, asciiOnly(bundle.code));
    env.ZERODOWN_TEST_WORKFLOW_BUNDLE = bundlePath;

    const durations = path.join(scratch, 'durations.json');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(projectRoot, 'test', 'helpers', 'run-files.ts'), ...files],
      { cwd: projectRoot, env: { ...env, ZERODOWN_TEST_DURATIONS: durations }, stdio: 'inherit' },
    );
    const code = await new Promise<number>((resolve) => child.once('exit', (exitCode) => resolve(exitCode ?? 1)));
    const slowest = recordDurations(durations, projectRoot).slice(0, 10);
    if (slowest.length > 1)
      process.stderr.write(`test harness: slowest files: ${slowest.map(([f, s]) => `${f} ${s} s`).join(', ')}\n`);
    return code;
  } finally {
    await stopServer();
    // A test that failed before its cleanup may have left instances or HAProxy running in the scratch folder.
    const left = await stopProcessesUnder(scratch);
    if (left.length > 0)
      process.stderr.write(`test harness: stopped ${left.length} process(es) the tests left running\n`);
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `test harness: ${error instanceof ZerodownError ? `${error.message}\n  ${error.hint ?? ''}` : String(error)}\n`,
    );
    process.exit(1);
  },
);
