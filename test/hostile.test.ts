import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { generateKeyPair } from '../src/artifacts/keys.ts';
import { projectRoot } from '../src/paths.ts';

/**
 * The hostile-fixture table (docs: test/fixtures/hostile/<area>/<case>/case.json). For each case:
 * copy it to scratch, run its `prepare` step, hash {builds}, {state} and {fixture}, run the CLI,
 * then assert the exit code, a message naming the problem, no raw control character on the
 * terminal, and that nothing changed on disk. Any case folder added under any area is picked up;
 * an area's `prepare-steps.ts` contributes its steps (every exported record of functions).
 */

const hostileRoot = join(projectRoot, 'test', 'fixtures', 'hostile');

const caseFile = z
  .object({
    description: z.string().min(1),
    args: z.array(z.string()),
    exit: z.number().int().min(0).max(255),
    /** A case-insensitive regular expression that stdout + stderr must match. */
    message: z.string().min(1),
    prepare: z.string().min(1).optional(),
    /** Optional bound on stdout + stderr, for cases that echo something huge. */
    maxOutputChars: z.number().int().min(1).optional(),
  })
  .strict();

interface PrepareContext {
  fixture: string;
  builds: string;
  state: string;
}
type PrepareStep = (context: PrepareContext) => Promise<void>;

const areas = existsSync(hostileRoot)
  ? readdirSync(hostileRoot)
      .filter((name) => statSync(join(hostileRoot, name)).isDirectory())
      .sort()
  : [];

async function loadPrepareSteps(): Promise<Map<string, PrepareStep>> {
  const steps = new Map<string, PrepareStep>();
  for (const area of areas) {
    const file = join(hostileRoot, area, 'prepare-steps.ts');
    if (!existsSync(file)) continue;
    const module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    for (const exported of Object.values(module)) {
      if (typeof exported !== 'object' || exported === null) continue;
      for (const [name, step] of Object.entries(exported)) {
        if (typeof step !== 'function') continue;
        assert.ok(!steps.has(name), `prepare step ${name} is defined twice`);
        steps.set(name, step as PrepareStep);
      }
    }
  }
  return steps;
}
const prepareSteps = await loadPrepareSteps();

/** Every entry under `root`: path, type, mode, size, and the content's (or link target's) hash. */
async function fingerprint(root: string): Promise<string[]> {
  const lines: string[] = [];
  const walk = async (path: string, relative: string) => {
    const info = await lstat(path);
    const mode = (info.mode & 0o7777).toString(8);
    if (info.isDirectory()) {
      lines.push(`${relative}/ dir ${mode}`);
      for (const name of (await readdir(path)).sort()) await walk(join(path, name), `${relative}/${name}`);
    } else if (info.isFile()) {
      const hash = createHash('sha256')
        .update(await readFile(path))
        .digest('hex');
      lines.push(`${relative} file ${mode} ${info.size} ${hash}`);
    } else if (info.isSymbolicLink()) {
      lines.push(`${relative} link -> ${await readlink(path)}`);
    } else {
      // FIFOs, sockets and devices are never opened: reading a FIFO would block.
      lines.push(`${relative} special ${mode} ${info.isFIFO() ? 'fifo' : info.isSocket() ? 'socket' : 'device'}`);
    }
  };
  await walk(root, '.');
  return lines;
}

interface Run {
  code: number | null;
  output: string;
}

/** The CLI in the scratch folder (so nothing of the project is used or touched), with a time limit. */
function runCli(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  const child = spawn(process.execPath, [join(projectRoot, 'bin', 'zerodown.js'), ...args], {
    cwd,
    env: { ...process.env, ZERODOWN_FLEET_FILE: undefined, ZERODOWN_SIGNING_KEY: undefined, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

// Escape, bell and other C0/C1 controls (tab and newline are fine) and bidi/zero-width marks.
// eslint-disable-next-line no-control-regex -- finding raw control characters is the point
const rawControl = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069]/;

async function runCase(area: string, name: string): Promise<void> {
  const folder = join(hostileRoot, area, name);
  const spec = caseFile.parse(JSON.parse(readFileSync(join(folder, 'case.json'), 'utf8')));
  const scratch = await mkdtemp(join(tmpdir(), `zerodown-hostile-${area}-`));
  try {
    const context: PrepareContext = {
      fixture: join(scratch, 'fixture'),
      builds: join(scratch, 'builds'),
      state: join(scratch, 'state'),
    };
    await cp(folder, context.fixture, { recursive: true, verbatimSymlinks: true });
    await mkdir(context.builds);
    await generateKeyPair({ dir: join(context.state, 'keys') });
    if (spec.prepare) {
      const step = prepareSteps.get(spec.prepare);
      assert.ok(
        step,
        `${area}/${name}: no prepare step "${spec.prepare}" (known: ${[...prepareSteps.keys()].join(', ')})`,
      );
      await step(context);
    }
    const before = await Promise.all([context.builds, context.state, context.fixture].map(fingerprint));
    const args = spec.args.map((arg) =>
      arg
        .replaceAll('{fixture}', context.fixture)
        .replaceAll('{builds}', context.builds)
        .replaceAll('{state}', context.state),
    );
    const run = await runCli(args, scratch, {
      ZERODOWN_STATE_DIR: context.state,
      ZERODOWN_BUILDS_ROOT: context.builds,
    });
    assert.equal(run.code, spec.exit, `exit code of zerodown ${args.join(' ')}:\n${run.output}`);
    assert.match(run.output, new RegExp(spec.message, 'i'));
    assert.doesNotMatch(run.output, rawControl, 'a raw control character or bidi mark reached the terminal');
    if (spec.maxOutputChars)
      assert.ok(run.output.length <= spec.maxOutputChars, `${run.output.length} characters of output`);
    const after = await Promise.all([context.builds, context.state, context.fixture].map(fingerprint));
    assert.deepEqual(after[0], before[0], 'the builds root changed');
    assert.deepEqual(after[1], before[1], 'the state folder changed');
    assert.deepEqual(after[2], before[2], 'the fixture changed');
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

for (const area of areas) {
  const cases = readdirSync(join(hostileRoot, area))
    .filter((name) => statSync(join(hostileRoot, area, name)).isDirectory())
    .sort();
  // Two at a time: each case starts the CLI, and the machine is shared.
  describe(`hostile ${area} fixtures`, { concurrency: 2, timeout: 900_000 }, () => {
    for (const name of cases) {
      const folder = join(hostileRoot, area, name);
      const description = existsSync(join(folder, 'case.json'))
        ? (JSON.parse(readFileSync(join(folder, 'case.json'), 'utf8')) as { description?: string }).description
        : 'case.json is missing';
      it(`${area}/${name}: ${description}`, { timeout: 180_000 }, () => runCase(area, name));
    }
  });
}

it('the table has cases to run', () => {
  assert.ok(areas.includes('fleet'), `areas found: ${areas.join(', ') || 'none'}`);
});
