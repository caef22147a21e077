import type { Command } from 'commander';
import * as z from 'zod';
import { parseInput } from '../../domain/errors.ts';
import { decimalOption } from '../options.ts';
import {
  defaultDevServerOptions,
  runningServerPid,
  startDevServer,
  stopDevServer,
  type DevServerOptions,
} from '../../temporal/dev-server.ts';
import { installTemporalCli } from '../../temporal/install.ts';

const portSchema = decimalOption('whole').pipe(
  z.number().min(1, 'must be a port from 1 to 65535').max(65535, 'must be a port from 1 to 65535'),
);
const serverFlagsSchema = z.object({
  stateDir: z.string().min(1).optional(),
  ip: z.string().min(1).optional(),
  port: portSchema.optional(),
  uiPort: portSchema.optional(),
  namespace: z.string().min(1).optional(),
});

function serverOptions(flags: unknown): DevServerOptions {
  const options = parseInput(serverFlagsSchema, flags, 'invalid server options', 'See zerodown server --help.');
  const defaults = defaultDevServerOptions();
  const port = options.port ?? defaults.port;
  return {
    stateDir: options.stateDir ?? defaults.stateDir,
    ip: options.ip ?? defaults.ip,
    port,
    uiPort: options.uiPort ?? port + 1000,
    namespace: options.namespace ?? defaults.namespace,
  };
}

const withServerFlags = (command: Command) =>
  command
    .option('--state-dir <dir>', 'folder for the SQLite file, log and pid file (default .state/temporal)')
    .option('--ip <ip>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'frontend gRPC port', '7233')
    .option('--ui-port <port>', 'Web UI port (default: port + 1000)')
    .option('--namespace <name>', 'namespace to create', 'default');

/** `zerodown server`: the local Temporal dev server with the Web UI, its state kept in a SQLite file. */
export function serverCommand(program: Command): void {
  const server = program
    .command('server')
    .description('build, start and stop the local Temporal dev server (Web UI on :8233)');

  server
    .command('install')
    .description('build the Temporal CLI with Go into .tools/bin unless one is found')
    .action(() => {
      const binary = installTemporalCli({ log: (line) => process.stderr.write(`${line}\n`) });
      process.stdout.write(`Temporal CLI ready: ${binary}\n`);
    });

  withServerFlags(server.command('start', { isDefault: true }))
    .description(
      'start the dev server (foreground unless --detach); reuses one already running from the same state folder',
    )
    .option('--detach', 'run in the background and return once it serves')
    .action(async (flags: Record<string, unknown>) => {
      const options = serverOptions(flags);
      const started = await startDevServer(options, { detach: Boolean(flags.detach) });
      const verb = started.reused ? 'already running' : 'serving';
      process.stdout.write(
        `Temporal dev server ${verb} at ${started.address} (pid ${started.pid})\nWeb UI: ${started.uiUrl}\nState: ${options.stateDir}\n`,
      );
      if (started.child && !flags.detach) {
        const stop = () => started.child?.kill('SIGTERM');
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await new Promise<void>((resolve) => started.child?.once('exit', () => resolve()));
      }
    });

  withServerFlags(server.command('stop'))
    .description('stop the detached dev server of the state folder')
    .action(async (flags: Record<string, unknown>) => {
      const stopped = await stopDevServer(serverOptions(flags));
      process.stdout.write(stopped ? 'Temporal dev server stopped\n' : 'no Temporal dev server was running\n');
    });

  withServerFlags(server.command('status'))
    .description('say whether the detached dev server of the state folder runs')
    .action((flags: Record<string, unknown>) => {
      const pid = runningServerPid(serverOptions(flags));
      process.stdout.write(pid ? `running (pid ${pid})\n` : 'not running\n');
    });
}
