import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as z from 'zod';
import { ZerodownError, badInput } from '../domain/errors.ts';

/**
 * Test hosts on one machine (docs/hosts.md): each host is a network namespace joined to a bridge
 * in the root namespace by a veth pair, with its own address on a private /24. The root
 * namespace's end of the links is the bridge (`.1`), from where the tests and the CLI reach the
 * hosts; the Temporal dev server is host `temporal` (`.2`, see hosts-temporal.ts), the
 * load-balancer host is `.10`, instance host `hN` is `.(10+N)`. Nothing here routes anywhere
 * else: the namespaces have no default route, so their traffic can reach only each other and the
 * bridge address.
 */

const run = promisify(execFile);

/** The /24 as its first three octets; only private ranges are accepted, so it cannot be a real network. */
export const hostsSubnet = z
  .string()
  .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, 'must be the first three octets of a /24, such as 10.213.0')
  .refine((s) => s.split('.').every((o) => Number(o) <= 255), 'each octet must be at most 255')
  .refine((s) => {
    const [a = 0, b = 0] = s.split('.').map(Number);
    return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }, 'must be inside a private range (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)');

export const defaultHostsSubnet = '10.213.0';
/** At most this many instance hosts: their addresses are .11 upwards. */
export const maxHosts = 200;

/** One test host: its name in the fleet file (and its worker's --host), its namespace and address. */
export interface TestHost {
  name: string;
  namespace: string;
  address: string;
  /** The veth end in the root namespace, on the bridge. */
  link: string;
}

export interface HostsLayout {
  subnet: string;
  /** Prefix of every namespace and link name, so two layouts on one machine never share one. */
  tag: string;
  bridge: string;
  /** The root namespace's address on the bridge. */
  gateway: string;
  /** The host of the Temporal dev server (hosts-temporal.ts). */
  temporal: TestHost;
  loadBalancer: TestHost;
  hosts: TestHost[];
}

/** The names and addresses of `count` instance hosts plus the load-balancer host on `subnet`. */
export function hostsLayout(count: number, subnet: string = defaultHostsSubnet): HostsLayout {
  const parsed = hostsSubnet.safeParse(subnet);
  if (!parsed.success)
    throw badInput(`hosts subnet: ${parsed.error.issues[0]?.message ?? 'invalid'} (got ${JSON.stringify(subnet)})`);
  if (!Number.isInteger(count) || count < 1 || count > maxHosts)
    throw badInput(`hosts count: must be a whole number from 1 to ${maxHosts} (got ${count})`);
  // Link names are limited to 15 bytes: `zd<third octet>-<host>` stays inside for h1…h200 and temporal.
  const tag = `zd${subnet.split('.')[2]}`;
  const host = (name: string, last: number): TestHost => ({
    name,
    namespace: `${tag}-${name}`,
    address: `${subnet}.${last}`,
    link: `${tag}-${name}`,
  });
  return {
    subnet,
    tag,
    bridge: `${tag}-br`,
    gateway: `${subnet}.1`,
    temporal: host('temporal', 2),
    loadBalancer: host('lb', 10),
    hosts: Array.from({ length: count }, (_, i) => host(`h${i + 1}`, 11 + i)),
  };
}

/**
 * A layout on a /24 `<prefix>.<first…last>` that no other layout on this machine holds. The claim is
 * the layout's bridge: the kernel makes `ip link add` fail when the name exists, so two test files
 * running at once can never pick the same hosts (picking by pid alone let two runs meet, and one's
 * cleanup then stopped the other's processes). The search starts at an offset from the pid; a
 * bridge left by a run that was killed only costs one step. networkDown releases the claim.
 */
export async function claimHostsLayout(
  count: number,
  { prefix = '10.213', first = 100, last = 199 }: { prefix?: string; first?: number; last?: number } = {},
): Promise<HostsLayout> {
  const span = last - first + 1;
  for (let k = 0; k < span; k++) {
    const layout = hostsLayout(count, `${prefix}.${first + ((process.pid + k) % span)}`);
    try {
      await ip('link', 'add', layout.bridge, 'type', 'bridge');
      return layout;
    } catch (error) {
      if (!String((error as { stderr?: unknown }).stderr).includes('File exists')) throw error;
    }
  }
  throw new ZerodownError(
    'failed',
    `no free test subnet: every bridge from ${prefix}.${first} to ${prefix}.${last} exists`,
    'Remove the leftovers of killed runs with `ip link del <zdNNN-br>` (or scripts/hosts.sh down).',
  );
}

export const allHosts = (layout: HostsLayout): TestHost[] => [layout.temporal, layout.loadBalancer, ...layout.hosts];

async function ip(...args: string[]): Promise<string> {
  const { stdout } = await run('ip', args, { timeout: 10_000 });
  return stdout;
}

async function exists(kind: 'link' | 'netns', name: string): Promise<boolean> {
  const out = kind === 'netns' ? await ip('netns', 'list') : await ip('-br', 'link', 'show');
  return out.split('\n').some((line) => (line.split(/[\s@]/)[0] ?? '') === name);
}

/** Creates the bridge, the namespaces and their links. Idempotent: what exists is left as it is. */
export async function networkUp(layout: HostsLayout): Promise<void> {
  // The bridge may exist already, made empty by claimHostsLayout: `replace` gives it its address either way.
  if (!(await exists('link', layout.bridge))) await ip('link', 'add', layout.bridge, 'type', 'bridge');
  await ip('addr', 'replace', `${layout.gateway}/24`, 'dev', layout.bridge);
  await ip('link', 'set', layout.bridge, 'up');
  for (const host of allHosts(layout)) {
    if (!(await exists('netns', host.namespace))) await ip('netns', 'add', host.namespace);
    if (!(await exists('link', host.link))) {
      await ip('link', 'add', host.link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.namespace);
      await ip('-n', host.namespace, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0');
    }
    await ip('link', 'set', host.link, 'master', layout.bridge, 'up');
    await ip('-n', host.namespace, 'link', 'set', 'lo', 'up');
    await ip('-n', host.namespace, 'link', 'set', 'eth0', 'up');
  }
}

/** The pids of every process inside a host's namespace (none when it does not exist). */
export async function namespacePids(namespace: string): Promise<number[]> {
  if (!(await exists('netns', namespace))) return [];
  return (await ip('netns', 'pids', namespace))
    .split('\n')
    .filter((line) => /^\d+$/.test(line.trim()))
    .map(Number);
}

/**
 * Removes everything networkUp made: first every process still inside a namespace (SIGTERM,
 * then SIGKILL after `graceMs`), since a namespace lives on while a process is in it; then the
 * namespaces (which removes their veth ends) and the bridge. Safe to run twice.
 */
export async function networkDown(layout: HostsLayout, graceMs = 3000): Promise<void> {
  const hosts = allHosts(layout);
  const signalAll = async (signal: NodeJS.Signals) => {
    let any = false;
    for (const host of hosts)
      for (const pid of await namespacePids(host.namespace)) {
        any = true;
        try {
          process.kill(pid, signal);
        } catch {
          // Already gone.
        }
      }
    return any;
  };
  if (await signalAll('SIGTERM')) {
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && (await anyPids(hosts))) await new Promise((r) => setTimeout(r, 100));
    await signalAll('SIGKILL');
    const killedBy = Date.now() + 5000;
    while (Date.now() < killedBy && (await anyPids(hosts))) await new Promise((r) => setTimeout(r, 100));
  }
  for (const host of hosts) {
    if (await exists('netns', host.namespace)) await ip('netns', 'del', host.namespace);
    // The kernel removes a deleted namespace's veth pair in the background: the root end can
    // still be listed here and be gone a moment later, which is the same end state.
    if (await exists('link', host.link)) await deleteLinkIfPresent(host.link);
  }
  if (await exists('link', layout.bridge)) await deleteLinkIfPresent(layout.bridge);
}

async function deleteLinkIfPresent(link: string): Promise<void> {
  try {
    await ip('link', 'del', link);
  } catch (error) {
    if (!String((error as { stderr?: unknown }).stderr).includes('Cannot find device')) throw error;
  }
}

async function anyPids(hosts: TestHost[]): Promise<boolean> {
  for (const host of hosts) if ((await namespacePids(host.namespace)).length > 0) return true;
  return false;
}

/** argv that runs `argv` inside a host's namespace (`ip netns exec` execs it: the pid is the program's). */
export function inNamespace(host: TestHost, argv: string[]): string[] {
  return ['ip', 'netns', 'exec', host.namespace, ...argv];
}
