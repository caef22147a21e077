import { spawn, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { projectRoot } from '../../src/paths.ts';
import type { TestFleet } from '../../test/helpers/local-fleet.ts';
import type { LoadCounts } from './timeline-load.ts';

/**
 * The peers of the benchmark, run end to end as their users run them, on the same fleet under the same
 * load: `zerodown deploy` through the CLI, and the classic Ansible rolling update (bench/peer/).
 */

const peerDir = path.join(projectRoot, 'bench', 'peer');

/** Debian's ansible (7.x) includes community.general.haproxy. Installs it when missing and allowed. */
export function ensureAnsible(): void {
  const found = () => spawnSync('ansible-playbook', ['--version'], { stdio: 'ignore' }).status === 0;
  if (found()) return;
  const canInstall = process.getuid?.() === 0 && spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!canInstall) {
    throw new Error(
      'the Ansible peer needs ansible-playbook, which is not installed: run `sudo apt-get install -y ansible` (Debian) and run the benchmark again',
    );
  }
  process.stderr.write('bench: installing Debian ansible for the peer run (apt-get install -y ansible)\n');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'ansible'], {
    stdio: 'inherit',
    env,
  });
  if (install.status !== 0 || !found()) {
    throw new Error(
      `apt-get install ansible failed (exit ${install.status}); install it by hand (apt-get update && apt-get install -y ansible)`,
    );
  }
}

/** What one end-to-end run took, from starting the tool's process to its exit. */
export interface PeerRun {
  wallMs: number;
  output: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<PeerRun> {
  const started = performance.now();
  const child = spawn(command, args, { cwd: projectRoot, env: { ...process.env, ...env } });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const wallMs = performance.now() - started;
      if (code === 0) resolve({ wallMs, output });
      else reject(new Error(`${command} ${args.join(' ')} exited ${code ?? signal}:\n${output.slice(-3000)}`));
    });
  });
}

/** `zerodown deploy <service> <version> --bake 0` through the CLI, served by the benchmark's worker. */
export function zerodownDeploy(
  fleet: TestFleet,
  { address, taskQueue, version }: { address: string; taskQueue: string; version: string },
): Promise<PeerRun> {
  const service = fleet.refs[0]!.service;
  const args = ['bin/zerodown.js', 'deploy', service, version, '--bake', '0', '--json'];
  return run(
    process.execPath,
    [...args, '--fleet', fleet.fleetFile, '--task-queue', taskQueue, '--address', address, '--by', 'bench'],
    {},
    120_000,
  );
}

/** The Ansible playbook bench/peer/rolling-update.yml over an inventory of the fleet's instances. */
export async function ansibleDeploy(fleet: TestFleet, version: string): Promise<PeerRun> {
  const service = fleet.refs[0]!.service;
  const work = path.join(fleet.dir, 'ansible');
  await mkdir(work, { recursive: true });
  const inventory = {
    instances: {
      hosts: Object.fromEntries(
        fleet.refs.map((ref) => [
          ref.instance,
          { instance_address: ref.address, instance_port: ref.port, ansible_connection: 'local' },
        ]),
      ),
      vars: {
        service,
        haproxy_socket: fleet.fleet.paths.statsSocket,
        instance_ctl: path.join(peerDir, 'instance-ctl.sh'),
        state_dir: fleet.fleet.paths.stateDir,
        builds_root: fleet.fleet.paths.buildsRoot,
        node: process.execPath,
        ansible_python_interpreter: '/usr/bin/python3',
      },
    },
  };
  const inventoryFile = path.join(work, 'inventory.yml');
  await writeFile(inventoryFile, stringify(inventory));
  return run(
    'ansible-playbook',
    ['-i', inventoryFile, path.join(peerDir, 'rolling-update.yml'), '-e', `new_version=${version}`],
    {
      // Ansible's own state stays in the fleet's folder.
      ANSIBLE_HOME: work,
      ANSIBLE_LOCAL_TEMP: path.join(work, 'tmp'),
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_LOCALHOST_WARNING: 'false',
    },
    300_000,
  );
}

async function underLoad(load: LoadCounts, body: () => Promise<PeerRun>) {
  const before = await load.counts();
  const { wallMs } = await body();
  const after = await load.counts();
  return {
    wallMs: Math.round(wallMs),
    requestsServed: after.served - before.served,
    requestsFailed: after.failed - before.failed,
  };
}

/**
 * zerodown and the Ansible peer, one after the other on the same fleet under the same load: each
 * deploys a new version to every instance, timed from starting its process to its exit.
 */
export async function comparePeers(
  fleet: TestFleet,
  load: LoadCounts,
  options: { address: string; taskQueue: string; zerodownVersion: string; ansibleVersion: string },
) {
  const zerodown = await underLoad(load, () => zerodownDeploy(fleet, { ...options, version: options.zerodownVersion }));
  await expectVersion(fleet, options.zerodownVersion, 'zerodown');
  const ansible = await underLoad(load, () => ansibleDeploy(fleet, options.ansibleVersion));
  await expectVersion(fleet, options.ansibleVersion, 'ansible');
  return {
    zerodown: { command: 'zerodown deploy <service> <version> --bake 0', ...zerodown },
    ansible: { command: 'ansible-playbook bench/peer/rolling-update.yml (serial: 1)', ...ansible },
    wallRatioZerodownToAnsible: Math.round((zerodown.wallMs / ansible.wallMs) * 100) / 100,
  };
}

/** Every instance on the new version, and every server back in rotation and passing its checks. */
async function expectVersion(fleet: TestFleet, version: string, peer: string): Promise<void> {
  const running = await fleet.runningVersions();
  if (running.some((v) => v !== version)) {
    throw new Error(`after the ${peer} run the instances report ${running.join(', ')}, not ${version} everywhere`);
  }
  // A tool that enables a server straight from maintenance (Ansible's `state: enabled`) leaves it
  // UP before HAProxy's next check has run: it can show `UP 1/2` for up to a check interval. Give
  // the fleet a bounded moment to settle before judging; the wait is not counted in the wall time.
  const deadline = Date.now() + 5000;
  for (;;) {
    const servers = await fleet.lb.servers(fleet.refs[0]!.service);
    const out = servers.filter((s) => s.admin !== 'ready' || s.health !== 'up');
    if (out.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(`after the ${peer} run ${out.map((s) => `${s.server} is ${s.admin}/${s.status}`).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
