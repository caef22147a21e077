/**
 * scripts/hosts.sh: `up [N]` makes N instance hosts, the load-balancer host and a Temporal dev
 * server on a host of its own (hosts-temporal.ts), HAProxy, instances and one worker per host;
 * `down [N]` removes all of it. Settings: ZERODOWN_HOSTS_SUBNET (first three octets of a private
 * /24, default 10.213.0), ZERODOWN_HOSTS_DIR (default .state/hosts). See docs/hosts.md.
 */
import path from 'node:path';
import { projectRoot } from '../paths.ts';
import { hostsDown, hostsUp } from './hosts-harness.ts';
import { defaultHostsSubnet, hostsLayout } from './hosts-network.ts';

async function main([command, count = '3']: string[]): Promise<void> {
  const layout = hostsLayout(Number(count), process.env.ZERODOWN_HOSTS_SUBNET ?? defaultHostsSubnet);
  const dir = path.resolve(process.env.ZERODOWN_HOSTS_DIR ?? path.join(projectRoot, '.state', 'hosts'));
  if (command === 'down') {
    await hostsDown(layout);
    process.stdout.write(`removed ${layout.hosts.length} hosts, the load-balancer host and ${layout.bridge}\n`);
    return;
  }
  if (command !== 'up') throw new Error('usage: scripts/hosts.sh up|down [N]');
  const up = await hostsUp({ layout, dir });
  const lines = [
    `Temporal   ${up.temporalAddress} (Web UI ${up.temporalUiUrl})`,
    `fleet file ${up.fleetFile}`,
    `frontend   ${up.frontendUrl}/api/orders`,
    ...[layout.loadBalancer, ...layout.hosts].map(
      (h) => `${h.name.padEnd(10)} ${h.address.padEnd(14)} netns ${h.namespace}, worker pid ${up.workers.get(h.name)}`,
    ),
    `deploy:    zerodown deploy ${up.service} 2.0.0 --fleet ${up.fleetFile} --address ${up.temporalAddress}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main(process.argv.slice(2)).catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
