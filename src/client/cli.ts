import { Command } from 'commander';
import { exitCodes } from '../domain/errors.ts';
import { artifactCommand } from './commands/artifact.ts';
import { demoCommand } from './commands/demo.ts';
import { deployCommand } from './commands/deploy.ts';
import { fleetCommand } from './commands/fleet.ts';
import { keysCommand } from './commands/keys.ts';
import { listCommand } from './commands/list.ts';
import { logsCommand } from './commands/logs.ts';
import { migrationsCommand } from './commands/migrations.ts';
import { serverCommand } from './commands/server.ts';
import { statusCommand } from './commands/status.ts';
import { steerCommands } from './commands/steer.ts';
import { workerCommand } from './commands/worker.ts';
import { terminalSafe } from './terminal-text.ts';

/** A top-level command: a file in commands/ that adds itself (and its subcommands) to the program. */
export type CommandModule = (program: Command) => void;

/** The one table of commands. Each row is one file in commands/. */
const commands: CommandModule[] = [
  demoCommand,
  deployCommand,
  statusCommand,
  listCommand,
  steerCommands,
  logsCommand,
  serverCommand,
  workerCommand,
  keysCommand,
  artifactCommand,
  fleetCommand,
  migrationsCommand,
];

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
  zerodown list --phase rolled-back --json   recent rollbacks, for scripts

Connection: --address/TEMPORAL_ADDRESS, --namespace/TEMPORAL_NAMESPACE, TLS and --api-key as for the
worker. Fleet file: --fleet, else $ZERODOWN_FLEET_FILE, else ./fleet.yaml. Web UI links: $ZERODOWN_UI_URL
(default: the local dev server's UI, port + 1000).`;

export function buildProgram(): Command {
  const program = new Command('zerodown')
    .description('Zero-downtime rolling deployments of backend services, as durable Temporal workflows.')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', exitCodeHelp)
    // Commander's own errors echo what was typed ("unknown option '…'"): escaped like ours.
    .configureOutput({ outputError: (text, write) => write(terminalSafe(text)) })
    .exitOverride();
  for (const register of commands) register(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}
