import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { terminate } from '../adapters/processes.ts';

/**
 * The local anvil chain that `zerodown demo` starts for the listener when none answers. It runs
 * with the fleet, so `fleet down` stops it too; the marker in its environment makes sure a pid
 * reused by another process is never signalled.
 */
export function demoChainFiles(stateDir: string) {
  const dir = join(stateDir, 'anvil');
  return { dir, pidFile: join(dir, 'anvil.pid'), log: join(dir, 'anvil.log'), marker: `ZERODOWN_DEMO_CHAIN=${dir}` };
}

/** Stops the demo's chain if this state folder started one; true when it was running. */
export async function stopDemoChain(stateDir: string): Promise<boolean> {
  const files = demoChainFiles(stateDir);
  const pid = Number((await readFile(files.pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const outcome = await terminate(pid, 3000, files.marker);
  await rm(files.pidFile, { force: true });
  return outcome !== 'not-running';
}
