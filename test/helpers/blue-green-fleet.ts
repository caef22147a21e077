import { appendFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { type LoadedFleet, loadFleetFile } from '../../src/fleet/fleet-file.ts';
import { fleetDown, fleetUp } from '../../src/fleet/local-fleet.ts';
import type { SampleBehavior } from '../../src/fleet/sample-service.ts';
import { createTestFleet, freePorts, type TestFleet } from './local-fleet.ts';

/** A blue-green fleet without Temporal (the benchmark's): blue up at the first version, HAProxy in front. */
export interface BlueGreenFleet {
  base: TestFleet;
  fleet: LoadedFleet;
  service: string;
  previewPort: number;
  cleanup(): Promise<void>;
}

export interface BlueGreenFleetOptions {
  instances?: number;
  versions: Record<string, SampleBehavior | undefined>;
  keepWarmSeconds?: number;
  checkIntervalMs?: number;
}

export async function createBlueGreenFleet(name: string, options: BlueGreenFleetOptions): Promise<BlueGreenFleet> {
  const service = `${name}-${randomUUID().slice(0, 6)}`;
  const instances = options.instances ?? 2;
  const base = await createTestFleet({
    service,
    instances,
    retries: false,
    versions: options.versions,
    ...(options.checkIntervalMs ? { checkIntervalMs: options.checkIntervalMs } : {}),
  });
  const [previewPort = 0, ...greenPorts] = await freePorts(instances + 1);
  await appendFile(
    base.fleetFile,
    [
      '    strategy: blue-green',
      '    blueGreen:',
      `      greenPorts: [${greenPorts.join(', ')}]`,
      `      preview: { address: 127.0.0.1, port: ${previewPort} }`,
      `      keepWarmSeconds: ${options.keepWarmSeconds ?? 2}`,
      '      previewRequests: 5',
      '',
    ].join('\n'),
  );
  const fleet = await loadFleetFile(base.fleetFile, {});
  const cleanup = async () => {
    await fleetDown(fleet, { stopTimeoutMs: 3000 });
    await base.cleanup();
  };
  try {
    await fleetUp(fleet, { version: Object.keys(options.versions)[0] ?? '1.0.0' });
  } catch (error) {
    await cleanup();
    throw error;
  }
  return { base, fleet, service, previewPort, cleanup };
}
