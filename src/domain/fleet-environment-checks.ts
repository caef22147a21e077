import type * as z from 'zod';
import { blueGreenIssues } from './blue-green.ts';
import { addressesClash } from './endpoints.ts';
import type { FleetConfig, ServiceConfig } from './fleet-config.ts';
import { maxInstances } from './instance-config.ts';
import { roleIssues } from './roles.ts';
import { waveIssues } from './waves.ts';

/**
 * The fleet file's rules across entries, which no single field's schema can check: api services have
 * a frontend, instance names are unique, roles and waves fit their service, and no two endpoints on
 * one host clash. src/domain/fleet-config.ts runs them from its schema's refinements.
 */

/** A port claimed by an instance, a frontend or a green slot, and who claimed it. */
export interface Endpoint {
  host: string;
  address: string;
  port: number;
  owner: string;
}

/**
 * One environment's rules: api services have a frontend, instance names are unique, and no two
 * endpoints on one host clash (`endpoints` is shared across environments, which may share hosts).
 */
export function checkEnvironment(
  fleet: FleetConfig,
  ctx: z.RefinementCtx,
  prefix: PropertyKey[],
  endpoints: Endpoint[],
  environment?: string,
): void {
  const instanceNames = new Map<string, string>();
  const label = (owner: string) => (environment ? `${environment}: ${owner}` : owner);
  // Ports only clash on the same host; the load balancer's ports are on host "local".
  const claim = (
    host: string,
    { address, port }: { address: string; port: number },
    owner: string,
    path: PropertyKey[],
  ) => {
    const previous = endpoints.find((e) => e.host === host && e.port === port && addressesClash(e.address, address));
    if (previous)
      ctx.addIssue({
        code: 'custom',
        path: [...prefix, ...path],
        message: `${address}:${port} is already used by ${previous.owner} (${previous.address}:${port})`,
      });
    else endpoints.push({ host, address, port, owner: label(owner) });
  };
  const total = Object.values(fleet.services).reduce((sum, s) => sum + s.instances.length, 0);
  if (total > maxInstances)
    ctx.addIssue({
      code: 'custom',
      path: [...prefix, 'services'],
      message: `the fleet has ${total} instances; at most ${maxInstances} are supported`,
    });
  if (fleet.loadBalancer.metrics)
    claim('local', fleet.loadBalancer.metrics, 'loadBalancer.metrics', ['loadBalancer', 'metrics', 'port']);
  for (const [name, service] of Object.entries(fleet.services)) {
    for (const issue of [...roleIssues(service), ...waveIssues(service)])
      ctx.addIssue({ code: 'custom', path: [...prefix, 'services', name, ...issue.path], message: issue.message });
    if (service.role === 'api' && !service.frontend) {
      ctx.addIssue({
        code: 'custom',
        path: [...prefix, 'services', name, 'frontend'],
        message: 'an api service needs a frontend address and port',
      });
    }
    if (service.frontend)
      claim('local', service.frontend, `services.${name}.frontend`, ['services', name, 'frontend', 'port']);
    service.instances.forEach((instance, i) => {
      const path = ['services', name, 'instances', i];
      const previous = instanceNames.get(instance.name);
      if (previous)
        ctx.addIssue({
          code: 'custom',
          path: [...prefix, ...path, 'name'],
          message: `instance name ${instance.name} is already used in service ${previous}`,
        });
      else instanceNames.set(instance.name, name);
      claim(instance.host, instance, `${name}/${instance.name}`, [...path, 'port']);
    });
    checkBlueGreen(
      name,
      service,
      (issue) => ctx.addIssue({ code: 'custom', ...issue, path: [...prefix, ...issue.path] }),
      claim,
    );
  }
}

/** The green slots and the preview frontend claim their ports like any other endpoint (docs/blue-green.md). */
function checkBlueGreen(
  name: string,
  service: ServiceConfig,
  report: (issue: { path: PropertyKey[]; message: string }) => void,
  claim: (host: string, at: { address: string; port: number }, owner: string, path: PropertyKey[]) => void,
): void {
  const path = ['services', name, 'blueGreen'];
  if (service.strategy === 'blue-green' && !service.blueGreen)
    report({
      path: ['services', name, 'strategy'],
      message: 'blue-green needs a blueGreen block (greenPorts, preview)',
    });
  const config = service.blueGreen;
  if (!config) return;
  if (service.role !== 'api')
    report({
      path,
      message: `blue-green swaps traffic at the load balancer, so it needs role api (this is a ${service.role})`,
    });
  for (const issue of blueGreenIssues(config, service.instances))
    report({ path: ['services', name, ...issue.path], message: issue.message });
  config.greenPorts.forEach((port, i) => {
    const instance = service.instances[i];
    if (instance)
      claim(instance.host, { address: instance.address, port }, `${name}/${instance.name} (green)`, [
        ...path,
        'greenPorts',
        i,
      ]);
  });
  claim('local', config.preview, `services.${name}.blueGreen.preview`, [...path, 'preview', 'port']);
}
