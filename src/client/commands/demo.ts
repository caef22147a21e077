import type { Command } from 'commander';
import * as z from 'zod';
import { parseInput } from '../../domain/errors.ts';
import { serviceName } from '../../domain/names.ts';
import { withConnectionOptions } from '../../temporal/connection.ts';
import { runDemo } from '../demo.ts';
import { fleetFlag, fleetFromFlags } from '../fleet-context.ts';
import { decimalOption, taskQueueFlag, taskQueueName } from '../options.ts';

const demoFlags = z.object({
  service: serviceName.optional(),
  taskQueue: taskQueueName,
  bake: decimalOption('fraction').pipe(z.number().max(600, 'must be at most 600 seconds')),
  connections: decimalOption('whole').pipe(z.number().min(1, 'must be 1 or more').max(256, 'must be at most 256')),
  rate: decimalOption('whole').pipe(z.number().min(1, 'must be 1 or more').max(10_000, 'must be at most 10000')),
  fleet: z.string().optional(),
});

const about = `
What it does (each step reuses what is already there):
  1. reaches Temporal, or starts the local dev server (zerodown server start --detach)
  2. generates the signing keys, builds and signs the sample service at 1.0.0 and the next version
  3. brings the local fleet up (HAProxy + 4 instances) at 1.0.0
  4. runs a worker for the demo's duration
  5. deploys the next version (2.0.0, then 2.0.1, …) under a light load, with the live view
  6. prints requests served and failed, the timings and the Web UI link
It leaves the dev server and the fleet running; stop them with: zerodown fleet down && zerodown server stop
Exit code 0 only when the deployment succeeded with zero failed requests.`;

/** `zerodown demo`: the whole story on this machine, in one command. */
export function demoCommand(program: Command): void {
  withConnectionOptions(program.command('demo'))
    .description('deploy a new version of the sample service under load on the local fleet, live (start here)')
    .option('--service <name>', 'the api service of the fleet file to use (default: the only one)')
    .option(...taskQueueFlag("task queue of the demo's worker"))
    .option('--bake <seconds>', 'how long each updated instance is watched', '1')
    .option('--connections <n>', 'load generator connections', '4')
    .option('--rate <n>', 'requests per second, in total', '100')
    .option(...fleetFlag)
    .addHelpText('after', about)
    .action(async (raw: Record<string, unknown>) => {
      const flags = parseInput(demoFlags, raw, 'invalid demo options', 'See zerodown demo --help.');
      const fleet = await fleetFromFlags(flags);
      await runDemo({
        fleet,
        service: flags.service,
        taskQueue: flags.taskQueue,
        bakeSeconds: flags.bake,
        connections: flags.connections,
        rate: flags.rate,
        flags: raw,
      });
    });
}
