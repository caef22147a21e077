import type { Command } from 'commander';
import * as z from 'zod';
import { parseInput } from '../../domain/errors.ts';
import { serviceName, version } from '../../domain/names.ts';
import { type FleetStatus, fleetDown, fleetStatus, fleetUp } from '../../fleet/local-fleet.ts';
import { fleetRepair } from '../../fleet/repair.ts';
import { fleetFlag, fleetFromFlags } from '../fleet-context.ts';
import { jsonFlag, printJson } from '../options.ts';
import { terminalSafe } from '../terminal-text.ts';

const upInput = z.object({
  fleet: z.string().optional(),
  service: serviceName.optional(),
  version,
  retries: z.boolean().optional(),
});
const repairInput = upInput.omit({ version: true });
const statusInput = z.object({ fleet: z.string().optional(), json: z.boolean().optional() });

const parse = <T>(schema: z.ZodType<T>, input: unknown): T =>
  parseInput(schema, input, 'invalid options', 'See zerodown fleet --help.');

/** `zerodown fleet`: the local fleet (HAProxy + instances on loopback ports), the embedded default target. */
export function fleetCommand(program: Command): void {
  const fleet = program.command('fleet').description('the local fleet: service instances behind a local HAProxy');

  fleet
    .command('up')
    .description(
      'start every instance of the fleet (or of one service) at a version, and HAProxy for the api services (idempotent)',
    )
    .requiredOption('--version <version>', 'artifact version to run (build it first with zerodown artifact build)')
    .option('--service <name>', 'service to start (default: every local service)')
    .option('--no-retries', 'turn HAProxy retries and redispatch off')
    .option(...fleetFlag)
    .action(async (raw: Record<string, unknown>) => {
      const flags = parse(upInput, raw);
      const loaded = await fleetFromFlags(flags);
      const status = await fleetUp(loaded, {
        service: flags.service,
        version: flags.version,
        retries: flags.retries === false ? false : undefined,
      });
      process.stdout.write(renderStatus(status));
    });

  fleet
    .command('status')
    .description("each instance's version, load balancer state, sessions and health")
    .option(...jsonFlag)
    .option(...fleetFlag)
    .action(async (raw: Record<string, unknown>) => {
      const flags = parse(statusInput, raw);
      const status = await fleetStatus(await fleetFromFlags(flags));
      if (flags.json) printJson(status);
      else process.stdout.write(renderStatus(status));
    });

  fleet
    .command('repair')
    .description('start a missing HAProxy in front of the instances as they are, whatever they run (idempotent)')
    .option('--service <name>', 'service whose load balancer to start (default: the only api service)')
    .option('--no-retries', 'turn HAProxy retries and redispatch off (default: as the previous HAProxy ran)')
    .option(...fleetFlag)
    .action(async (raw: Record<string, unknown>) => {
      const flags = parse(repairInput, raw);
      const repaired = await fleetRepair(await fleetFromFlags(flags), {
        ...(flags.service ? { service: flags.service } : {}),
        ...(flags.retries === false ? { retries: false } : {}),
      });
      const service = repaired.status.instances[0]?.service ?? flags.service ?? '<service>';
      const headline = repaired.startedPid
        ? `Started HAProxy (pid ${repaired.startedPid}) in front of the instances as they are; no instance was touched.`
        : 'HAProxy already runs; nothing was changed.';
      const next =
        repaired.versions.length > 1
          ? `Next: the instances run ${repaired.versions.join(', ')}; bring them to one version: zerodown deploy ${service} ${repaired.versions[0]}`
          : `Next: deploy as usual: zerodown deploy ${service} <version>`;
      process.stdout.write(`${headline}\n${renderStatus(repaired.status)}${next}\n`);
    });

  fleet
    .command('down')
    .description('stop HAProxy and every local instance the fleet started (idempotent)')
    .option(...fleetFlag)
    .action(async (raw: Record<string, unknown>) => {
      const result = await fleetDown(await fleetFromFlags(parse(statusInput, raw)));
      const stopped = result.instancesStopped.length ? result.instancesStopped.join(', ') : 'no instances';
      process.stdout.write(
        `Stopped ${result.haproxyStopped ? 'HAProxy and ' : ''}${stopped}${result.chainStopped ? ", and the demo's anvil chain" : ''}.\n`,
      );
      if (result.leftAlone) process.stderr.write(terminalSafe(`zerodown: warning: ${result.leftAlone}\n`));
    });
}

function renderStatus(status: FleetStatus): string {
  const lb = status.loadBalancer;
  const header = lb.running
    ? `HAProxy running (pid ${lb.pid}), socket ${lb.socket}${lb.error ? ` — but ${lb.error}` : ''}`
    : status.instances.some((i) => i.running)
      ? 'HAProxy not running — start it in front of the running instances with: zerodown fleet repair'
      : 'HAProxy not running';
  const frontends = lb.frontends.map(
    (f) =>
      `  frontend ${f.frontend}: ${f.figures.total} requests, ${f.figures.http5xx} 5xx, ${f.currentSessions} sessions, avg ${f.figures.totalTimeMs} ms`,
  );
  const rows = [
    ['INSTANCE', 'ENDPOINT', 'PID', 'VERSION', 'READY', 'LB', 'CHECK', 'SESSIONS', 'QUEUED'],
    ...status.instances.map((i) => [
      `${i.service}/${i.instance}`,
      i.endpoint,
      i.pid ? String(i.pid) : '-',
      i.version ?? (i.running ? '?' : 'stopped'),
      i.ready ? 'yes' : 'no',
      i.loadBalancer ? `${i.loadBalancer.status} (${i.loadBalancer.admin})` : '-',
      i.loadBalancer?.checkStatus || '-',
      i.loadBalancer ? String(i.loadBalancer.currentSessions) : '-',
      i.loadBalancer ? String(i.loadBalancer.queuedSessions) : '-',
    ]),
  ];
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  const table = rows.map((r) =>
    r
      .map((cell, c) => cell.padEnd(widths[c] ?? 0))
      .join('  ')
      .trimEnd(),
  );
  return `${[header, ...frontends, '', ...table].join('\n')}\n`;
}
