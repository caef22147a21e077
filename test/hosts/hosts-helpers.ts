import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { type HostsFleet, type HostsFleetOptions, hostsDown, hostsUp } from '../../src/fleet/hosts-harness.ts';
import { type HostsLayout, type TestHost, claimHostsLayout } from '../../src/fleet/hosts-network.ts';
import type { SampleBehavior } from '../../src/fleet/sample-service.ts';
import { freePort } from '../helpers/ports.ts';

const run = promisify(execFile);

/**
 * A many-hosts test's own hosts: a subnet of its own (a free 10.213.<100-199>.0/24, claimed through
 * its bridge, so two test files running at once never meet), its own folder and dev server. `cleanup` removes all of it.
 */
export interface HostsTest extends HostsFleet {
  client: Client;
  cleanup(): Promise<void>;
}

export async function createHostsTest(
  hosts: number,
  versions: Record<string, SampleBehavior | undefined>,
  options: Partial<HostsFleetOptions> = {},
): Promise<HostsTest> {
  // Short: HAProxy's socket path lives inside it and Unix socket paths are limited to ~104 bytes.
  const dir = await mkdtemp(path.join(tmpdir(), 'zd-hosts-'));
  const layout: HostsLayout = await claimHostsLayout(hosts).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  let up: HostsFleet;
  try {
    up = await hostsUp({
      layout,
      dir,
      versions,
      taskQueue: 'hosts-test',
      temporalPort: await freePort(),
      temporalUiPort: await freePort(),
      ...options,
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const connection = await Connection.connect({ address: up.temporalAddress });
  let cleaned = false;
  return {
    ...up,
    client: new Client({ connection, namespace: 'default' }),
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      await connection.close().catch(() => undefined);
      await hostsDown(layout);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `ip:port` of every TCP socket listening inside a host's namespace (read with `ss` inside it). */
export async function listeningInside(host: TestHost): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'exec', host.namespace, 'ss', '-Hltn'], { timeout: 10_000 });
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[3] ?? '')
    .filter(Boolean);
}

/** Which task queues each instance's `replaceOnHost` activities were scheduled on, from the history. */
export async function hostStepQueues(handle: WorkflowHandle): Promise<Record<string, string[]>> {
  const history = await handle.fetchHistory();
  const queues = new Map<string, Set<string>>();
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name !== 'replaceOnHost') continue;
    const input = JSON.parse(Buffer.from(scheduled.input?.payloads?.[0]?.data ?? []).toString()) as {
      instance: string;
    };
    const set = queues.get(input.instance) ?? new Set<string>();
    set.add(scheduled.taskQueue?.name ?? '');
    queues.set(input.instance, set);
  }
  return Object.fromEntries([...queues].map(([instance, set]) => [instance, [...set].sort()]));
}

/** The version an instance reports, asked from the root namespace over the links. */
export async function reportedVersion(address: string, port: number): Promise<string | undefined> {
  const response = await fetch(`http://${address}:${port}/api/health/status`, {
    signal: AbortSignal.timeout(5000),
  }).catch(() => undefined);
  if (!response?.ok) return undefined;
  return ((await response.json()) as { version?: string }).version;
}
