/**
 * Run inside one test host's network namespace by the hosts harness (src/fleet/hosts-harness.ts):
 *   haproxy <fleet-file>                      start the fleet's HAProxy (the load-balancer host)
 *   instances <fleet-file> <host> <version>   install and start every instance of <host>
 * Both are idempotent: what already runs is left alone. Processes started here inherit the
 * namespace, so they listen on that host's address and nowhere else.
 */
import { loadFleetFile } from './fleet-file.ts';
import { haproxyConfig } from './haproxy-config.ts';
import { checkConfig, startHAProxy } from './haproxy-process.ts';
import { haproxyFilesFor } from './local-fleet.ts';
import { instanceRefs, runtimeFor } from './wiring.ts';

async function main([command, fleetFile, host, version]: string[]): Promise<void> {
  if (!fleetFile) throw new Error('usage: hosts-start haproxy|instances <fleet-file> [<host> <version>]');
  const fleet = await loadFleetFile(fleetFile, {});
  const api = Object.entries(fleet.config.services)
    .filter(([, s]) => s.role === 'api')
    .map(([name]) => name);
  if (command === 'haproxy') {
    const files = haproxyFilesFor(fleet);
    const config = haproxyConfig(fleet.config, { statsSocket: files.socket, services: api });
    await checkConfig(files, config);
    await startHAProxy(files, config);
    return;
  }
  if (command === 'instances' && host && version) {
    for (const service of Object.keys(fleet.config.services)) {
      const runtime = runtimeFor(fleet, service);
      const refs = instanceRefs(fleet, service).filter((ref) => ref.host === host);
      await Promise.all(
        refs.map(async (ref) => {
          if ((await runtime.inspect(ref)).running) return;
          await runtime.install(ref, version);
          await runtime.start(ref);
        }),
      );
    }
    return;
  }
  throw new Error(`hosts-start: unknown command ${JSON.stringify(command)} (haproxy or instances)`);
}

main(process.argv.slice(2)).catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
