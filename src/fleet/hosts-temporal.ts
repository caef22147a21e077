import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { ZerodownError, unreachable } from '../domain/errors.ts';
import { customSearchAttributes } from '../domain/search-attributes.ts';
import { devServerTuning, ensureSearchAttributes } from '../temporal/dev-server.ts';
import { findTemporalBinary, noServerHint } from '../temporal/install.ts';
import { type HostsLayout, inNamespace } from './hosts-network.ts';

/**
 * The Temporal dev server of the hosts harness, on a host of its own (`temporal`, address `.2`).
 * Why not on the bridge address in the root namespace: the dev server binds its internal services
 * to `--ip` but dials them on 127.0.0.1, so with any `--ip` other than loopback or 0.0.0.0 it
 * cannot start a workflow (seen with the CLI 1.5.1: "dial tcp 127.0.0.1:…: connection refused").
 * Inside its own namespace it listens on 0.0.0.0, which there means the namespace's loopback (its
 * internal calls) and its one link: every worker reaches it over the links, and nothing outside
 * the harness can.
 */
export async function startTemporalHost(
  layout: HostsLayout,
  dir: string,
  { port, uiPort }: { port: number; uiPort: number },
): Promise<{ address: string; uiUrl: string }> {
  const host = layout.temporal;
  const address = `${host.address}:${port}`;
  const uiUrl = `http://${host.address}:${uiPort}`;
  if (await serving(address)) return { address, uiUrl };
  const binary = findTemporalBinary();
  if (!binary) throw new ZerodownError('unreachable', 'no Temporal CLI was found to run the dev server', noServerHint);
  const stateDir = path.join(dir, 'temporal');
  mkdirSync(stateDir, { recursive: true });
  const log = openSync(path.join(stateDir, 'server.log'), 'a');
  try {
    const [program = 'ip', ...args] = inNamespace(host, [
      binary,
      'server',
      'start-dev',
      '--ip',
      '0.0.0.0',
      '--port',
      String(port),
      '--ui-port',
      String(uiPort),
      '--namespace',
      'default',
      '--db-filename',
      path.join(stateDir, 'temporal.db'),
      '--log-level',
      'warn',
      ...devServerTuning,
      ...customSearchAttributes.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]),
    ]);
    const child = spawn(program, args, { detached: true, stdio: ['ignore', log, log] });
    child.unref();
  } finally {
    closeSync(log);
  }
  const deadline = Date.now() + 120_000;
  while (!(await serving(address))) {
    if (Date.now() > deadline)
      throw unreachable(
        `the hosts' Temporal dev server at ${address} did not serve within 120 s`,
        `read ${stateDir}/server.log`,
      );
    await sleep(500);
  }
  const connection = await Connection.connect({ address });
  try {
    await ensureSearchAttributes(connection, 'default');
  } finally {
    await connection.close();
  }
  return { address, uiUrl };
}

async function serving(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 1000 });
    await connection.close();
    return true;
  } catch {
    return false;
  }
}
