import { freeLoopbackPorts } from '../../src/adapters/processes.ts';

/**
 * A loopback port that was free a moment ago, below the kernel's ephemeral range: a port the OS
 * hands out could be taken, while its instance restarts, as the source port of another connection
 * (src/adapters/processes.ts, `freeLoopbackPorts`). Seen once in a full test run: a restarted
 * instance found its port "already in use by another process".
 */
export async function freePort(): Promise<number> {
  const [port] = await freeLoopbackPorts(1);
  if (port === undefined) throw new Error('no free loopback port');
  return port;
}
