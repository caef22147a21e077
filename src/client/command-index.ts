import { existsSync, readFileSync } from 'node:fs';
import { Command, Help } from 'commander';
import * as z from 'zod';
import { allCommandFiles, buildProgram, commandFiles, programShell, type CommandFile } from './cli.ts';

/**
 * The compiled CLI starts fast by loading only the command file a command needs. To know which file
 * that is, and to print the top-level help without loading any, the build writes this index of every
 * top-level command (scripts/build.mjs). Without an index (under tsx) every file loads, as before.
 */
const commandEntrySchema = z.object({
  file: z.enum(allCommandFiles as [CommandFile, ...CommandFile[]]),
  name: z.string().min(1),
  aliases: z.array(z.string()),
  /** How the help's command list shows it, e.g. "deploy [options] <service> <version>". */
  term: z.string().min(1),
  description: z.string(),
});

export const commandIndexSchema = z.object({ commands: z.array(commandEntrySchema) });

/** Every top-level command, the file that adds it, and what the top-level help shows for it. */
export type CommandIndex = z.infer<typeof commandIndexSchema>;

/** Where the compiled CLI finds its index: beside this module, only when it runs compiled. */
export const commandIndexUrl = new URL('./command-index.json', import.meta.url);

/** Builds the index from the real command files (run by the build). */
export async function describeCommands(): Promise<CommandIndex> {
  const commands: CommandIndex['commands'] = [];
  for (const file of allCommandFiles) {
    const program = programShell();
    (await commandFiles[file]())(program);
    const help = program.createHelp();
    for (const command of program.commands) {
      commands.push({
        file,
        name: command.name(),
        aliases: command.aliases(),
        term: help.subcommandTerm(command),
        description: help.subcommandDescription(command),
      });
    }
  }
  return { commands };
}

/** Reads the compiled CLI's index; undefined under tsx, or when it is missing or unreadable. */
export function readCommandIndex(url: URL = commandIndexUrl): CommandIndex | undefined {
  if (url.pathname.endsWith('.ts') || !existsSync(url)) return undefined;
  try {
    const parsed = commandIndexSchema.safeParse(JSON.parse(readFileSync(url, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

const helpFlags = new Set(['-h', '--help']);

/** The top-level help from the index alone: stand-in commands that only name and describe themselves. */
function helpOnlyProgram(index: CommandIndex): Command {
  const program = programShell();
  const terms = new Map(index.commands.map((entry) => [entry.name, entry.term]));
  program.configureHelp({
    // Commander's own `help [command]` is not in the index: it keeps its usual term.
    subcommandTerm(this: Help, command: Command): string {
      return terms.get(command.name()) ?? Help.prototype.subcommandTerm.call(this, command);
    },
  });
  for (const entry of index.commands) {
    const command = new Command(entry.name).description(entry.description);
    for (const alias of entry.aliases) command.alias(alias);
    program.addCommand(command);
  }
  return program;
}

/**
 * The program for these arguments (without `node zerodown`): one command's file when the index names
 * it, the help-only program for the top-level help, and every file otherwise (an unknown command then
 * gets commander's suggestions).
 */
export async function programFor(args: readonly string[], index = readCommandIndex()): Promise<Command> {
  if (!index) return buildProgram();
  const [first, second] = args;
  const wanted = first === 'help' ? second : first;
  const entry = index.commands.find((e) => e.name === wanted || e.aliases.includes(wanted ?? ''));
  if (entry) return buildProgram([entry.file]);
  const topLevelHelp = args.length === 0 || (args.length === 1 && (helpFlags.has(first ?? '') || first === 'help'));
  return topLevelHelp ? helpOnlyProgram(index) : buildProgram();
}
