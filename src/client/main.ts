import { CommanderError } from 'commander';
import { ZerodownError } from '../domain/errors.ts';
import { programFor } from './command-index.ts';
import { terminalSafe } from './terminal-text.ts';

/** The one top-level handler: commands throw, this prints one clear message and sets the exit code. */
async function main(argv: string[]): Promise<void> {
  // `zerodown … | head` closes stdout early: that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  const program = await programFor(argv.slice(2));
  try {
    await program.parseAsync(argv);
  } catch (error) {
    process.exitCode = report(error);
  }
  // A failed gRPC connection can leave timers behind; the command is over, so the process is too.
  process.exit(process.exitCode ?? 0);
}

/** Every message goes through terminalSafe: it may echo a name or a file's key with control characters. */
function report(error: unknown): number {
  if (error instanceof ZerodownError) {
    process.stderr.write(terminalSafe(`zerodown: ${error.message}\n`));
    if (error.hint) process.stderr.write(terminalSafe(`  ${error.hint}\n`));
    return error.exitCode;
  }
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(terminalSafe(`zerodown: unexpected error (this is a bug, please report it):\n${message}\n`));
  return 1;
}

await main(process.argv);
