import { Command } from 'commander';
import { exitCodes } from '../domain/errors.ts';
import { terminalSafe } from './terminal-text.ts';

/** A top-level command: a file in commands/ that adds itself (and its subcommands) to the program. */
export type CommandModule = (program: Command) => void;

/**
 * The one table of commands. Each row is one file in commands/, loaded only when needed: a command
 * run from the compiled CLI loads its own file and nothing else (command-index.ts), which keeps the
 * start fast.
 */
export const commandFiles = {
  demo: async () => (await import('./commands/demo.ts')).demoCommand,
  deploy: async () => (await import('./commands/deploy.ts')).deployCommand,
  promote: async () => (await import('./commands/promote.ts')).promoteCommand,
  status: async () => (await import('./commands/status.ts')).statusCommand,
  list: async () => (await import('./commands/list.ts')).listCommand,
  steer: async () => (await import('./commands/steer.ts')).steerCommands,
  verify: async () => (await import('./commands/verify.ts')).verifyCommand,
  'skip-host': async () => (await import('./commands/skip-host.ts')).skipHostCommand,
  logs: async () => (await import('./commands/logs.ts')).logsCommand,
  audit: async () => (await import('./commands/audit.ts')).auditCommand,
  server: async () => (await import('./commands/server.ts')).serverCommand,
  worker: async () => (await import('./commands/worker.ts')).workerCommand,
  keys: async () => (await import('./commands/keys.ts')).keysCommand,
  artifact: async () => (await import('./commands/artifact.ts')).artifactCommand,
  fleet: async () => (await import('./commands/fleet.ts')).fleetCommand,
  migrations: async () => (await import('./commands/migrations.ts')).migrationsCommand,
} satisfies Record<string, () => Promise<CommandModule>>;

/** The name of a row of `commandFiles`. */
export type CommandFile = keyof typeof commandFiles;

export const allCommandFiles = Object.keys(commandFiles) as CommandFile[];

const exitCodeHelp = `
Exit codes:
  ${exitCodes.ok}  success
  ${exitCodes.internal}  unexpected error (a bug)
  ${exitCodes.badInput}  bad input (flags, arguments, config files)
  ${exitCodes.unreachable}  cannot reach Temporal (or another required system)
  ${exitCodes.refused}  refused: the command does not apply now
  ${exitCodes.failed}  the deployment failed
  ${exitCodes.rolledBack}  the deployment was rolled back (or aborted)
  130  you pressed Ctrl-C while watching (the deployment goes on in Temporal)

Examples:
  zerodown demo                              the whole story on this machine, start here
  zerodown deploy api 1.4.2 --approval       deploy with the live view, waiting for approval
  zerodown approve api                       let it go ahead
  zerodown status api --watch                follow it again from anywhere
  zerodown rollback api --reason "…"         restore the previous version
  zerodown deploy api 1.4.2 --verify         wait for \`zerodown verify api --ok|--reject "…"\` (docs/verification.md)
  zerodown list --phase rolled-back --json   recent rollbacks, for scripts

Connection: --address/TEMPORAL_ADDRESS, --namespace/TEMPORAL_NAMESPACE, TLS and --api-key as for the
worker. Fleet file: --fleet, else $ZERODOWN_FLEET_FILE, else ./fleet.yaml. Web UI links: $ZERODOWN_UI_URL
(default: the local dev server's UI, port + 1000).`;

/** The program without its commands: name, description and the help text after the command list. */
export function programShell(): Command {
  return (
    new Command('zerodown')
      .description('Zero-downtime rolling deployments of backend services, as durable Temporal workflows.')
      .showHelpAfterError('(run with --help for usage)')
      .addHelpText('after', exitCodeHelp)
      // Commander's own errors echo what was typed ("unknown option '…'"): escaped like ours.
      .configureOutput({ outputError: (text, write) => write(terminalSafe(text)) })
      .exitOverride()
  );
}

/** The program with the commands of `files` (all of them by default). */
export async function buildProgram(files: readonly CommandFile[] = allCommandFiles): Promise<Command> {
  const program = programShell();
  const modules = await Promise.all(files.map((file) => commandFiles[file]()));
  for (const register of modules) register(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}
