import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../src/client/cli.ts';
import { describeCommands, programFor, readCommandIndex, type CommandIndex } from '../../src/client/command-index.ts';

/** What the program prints for `args`, and the exit code commander asks for (help exits through exitOverride). */
async function output(program: Command, args: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = '';
  let err = '';
  program.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s), getOutHelpWidth: () => 100 });
  try {
    await program.parseAsync(['node', 'zerodown', ...args]);
    return { out, err, code: 0 };
  } catch (error) {
    return { out, err, code: (error as { exitCode?: number }).exitCode ?? -1 };
  }
}

let index: CommandIndex;
let scratch: string;

before(async () => {
  index = await describeCommands();
  scratch = mkdtempSync(path.join(tmpdir(), 'zerodown-command-index-'));
});
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the compiled CLI loads only the command it runs', () => {
  it('indexes every top-level command of the full program, aliases included', async () => {
    const full = await buildProgram();
    assert.deepEqual(
      index.commands.map((e) => [e.name, e.aliases]),
      full.commands.map((c) => [c.name(), c.aliases()]),
    );
  });

  it('prints the same top-level help from the index as the full program, for --help, help and no arguments', async () => {
    for (const args of [['--help'], ['-h'], ['help'], []]) {
      const fromIndex = await programFor(args, index);
      assert.ok(
        fromIndex.commands.every((c) => c.options.length === 0),
        `${args.join(' ')}: stand-ins only`,
      );
      const expected = await output(await buildProgram(), args);
      const actual = await output(fromIndex, args);
      assert.ok(expected.out + expected.err !== '', 'the full program prints help');
      assert.deepEqual(actual, expected, `zerodown ${args.join(' ')}`);
    }
  });

  it('builds a command from its own file alone, by name, by alias and after `help`', async () => {
    const names = async (args: string[]) => (await programFor(args, index)).commands.map((c) => c.name());
    assert.deepEqual(await names(['status', 'api']), ['status']);
    assert.deepEqual(await names(['history', '--json']), ['list']);
    assert.deepEqual(await names(['help', 'deploy']), ['deploy']);
    assert.deepEqual(await names(['approve', 'api']), ['approve', 'pause', 'resume', 'rollback', 'abort']);
  });

  it('falls back to every command for an unknown one, so commander can suggest the right name', async () => {
    const program = await programFor(['stauts'], index);
    assert.equal(program.commands.length, index.commands.length);
    const result = await output(program, ['stauts']);
    assert.match(result.err, /unknown command 'stauts'/);
    assert.match(result.err, /Did you mean status\?/);
  });

  it('ignores a missing or malformed index file, and reads a valid one', () => {
    const file = path.join(scratch, 'command-index.json');
    assert.equal(readCommandIndex(pathToFileURL(file)), undefined);
    writeFileSync(file, '{"commands": [{"file": "nope"}]}');
    assert.equal(readCommandIndex(pathToFileURL(file)), undefined);
    writeFileSync(file, 'not json');
    assert.equal(readCommandIndex(pathToFileURL(file)), undefined);
    writeFileSync(file, JSON.stringify(index));
    assert.deepEqual(readCommandIndex(pathToFileURL(file)), index);
  });
});
