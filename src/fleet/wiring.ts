import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { ServiceConfig } from '../domain/fleet-config.ts';
import { roleSettingsJson } from '../domain/roles.ts';
import { HAProxyLoadBalancer, type ServerSpec } from '../adapters/haproxy.ts';
import { HookRuntime } from '../adapters/hook-runtime.ts';
import { HollowRuntime } from '../adapters/hollow-runtime.ts';
import type { LoadBalancer, ServerRef } from '../adapters/load-balancer.ts';
import { LocalProcessRuntime } from '../adapters/local-runtime.ts';
import type { InstanceRef, InstanceRuntime } from '../adapters/runtime.ts';
import { type LoadedFleet, requireService } from './fleet-file.ts';
import { serverKeywords } from './haproxy-config.ts';

/**
 * The one place that turns fleet-file choices into adapters, so a new load balancer or runtime
 * is a new adapter file plus one case here.
 */

/** The fleet's load balancer, behind the interface every caller uses (adapters/load-balancer.ts). */
export function loadBalancerFor(fleet: LoadedFleet): LoadBalancer {
  switch (fleet.config.loadBalancer.type) {
    case 'haproxy':
      return new HAProxyLoadBalancer(fleet.paths.statsSocket, undefined, (ref) => serverSpec(fleet, ref));
  }
}

/**
 * How the generated config (fleet/haproxy-config.ts) makes the server of an instance of an api
 * service, so HAProxy can re-create it at run time; none for the servers of a blue-green service's
 * colours (nor an IPv6 address), which keep the slower way to fresh checks (adapters/haproxy.ts, `restartChecks`).
 */
function serverSpec(fleet: LoadedFleet, ref: ServerRef): ServerSpec | undefined {
  const service = fleet.config.services[ref.backend];
  if (!service || service.role !== 'api' || !service.frontend || service.blueGreen) return undefined;
  const instance = service.instances.find((i) => i.name === ref.server);
  // `add server` takes `address:port`; an IPv6 address would need HAProxy's own notation, so not here.
  if (!instance || instance.address.includes(':')) return undefined;
  const { checks, rampUp } = serverKeywords(service);
  return { address: instance.address, port: instance.port, keywords: rampUp ? `${checks} ${rampUp}` : checks };
}

export function runtimeFor(fleet: LoadedFleet, serviceName: string): InstanceRuntime {
  const service = requireService(fleet, serviceName);
  const { buildsRoot, stateDir, publicKey } = fleet.paths;
  const runtime = service.runtime;
  switch (runtime.type) {
    case 'local':
      return new LocalProcessRuntime({ stateDir, buildsRoot, publicKeyPath: publicKey, command: runtime.command });
    case 'hooks':
      return new HookRuntime({ hooks: runtime, buildsRoot, publicKeyPath: publicKey, stateDir });
    case 'hollow':
      // The scale benchmark's hollow instances only (docs/scale.md).
      return new HollowRuntime({ control: runtime.control, buildsRoot, publicKeyPath: publicKey });
    default: {
      const unknown: never = runtime;
      throw new Error(`unknown runtime ${JSON.stringify(unknown)}`);
    }
  }
}

export function instanceRefs(fleet: LoadedFleet, serviceName: string): InstanceRef[] {
  const service: ServiceConfig = requireService(fleet, serviceName);
  const settings = roleSettings(fleet, service);
  return service.instances.map((i) => ({
    service: serviceName,
    role: service.role,
    instance: i.name,
    host: i.host,
    address: i.address,
    port: i.port,
    health: service.health,
    settings,
  }));
}

/**
 * What an instance of the service is told about its role (docs/roles.md): the role's settings,
 * the database URL, and the storage folder made absolute (relative to the fleet file's folder).
 */
export function roleSettings(fleet: LoadedFleet, service: ServiceConfig): Record<string, unknown> {
  const { storageDir } = service;
  const base = dirname(resolve(fleet.source));
  return {
    ...roleSettingsJson(service),
    ...(storageDir ? { storageDir: isAbsolute(storageDir) ? storageDir : join(base, storageDir) } : {}),
  };
}

/** Backends are named after services and servers after instances (see haproxy-config.ts). */
export function serverRef(ref: Pick<InstanceRef, 'service' | 'instance'>): ServerRef {
  return { backend: ref.service, server: ref.instance };
}
