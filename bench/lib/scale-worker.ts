/**
 * The scale benchmark's worker (docs/scale.md), a process of its own so that its CPU seconds and
 * memory are its own and not the load generator's: the real workflows and activities over the
 * hollow fleet's fleet file. `tsx bench/lib/scale-worker.ts <address> <task-queue> <fleet-file>
 * <workflow-bundle.js> [--coalesce-lb-reads]`; prints `ready` on stdout once polling; SIGTERM stops it.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import pino from 'pino';
import { createActivities } from '../../src/activities/index.ts';
import { loadFleetFile } from '../../src/fleet/fleet-file.ts';
import { recoveryTuning } from '../../src/worker.ts';
import { coalesceServerReads } from './coalesced-lb-reads.ts';
import { scaleWorkerTuning } from './scale-worker-tuning.ts';

const [address, taskQueue, fleetFile, bundlePath, experiment] = process.argv.slice(2);
if (!address || !taskQueue || !fleetFile || !bundlePath)
  throw new Error('usage: scale-worker.ts <address> <task-queue> <fleet-file> <workflow-bundle.js>');

// The benchmark's experiment only (docs/scale.md): what sharing HAProxy reads would buy.
if (experiment === '--coalesce-lb-reads') coalesceServerReads();
Runtime.install({ logger: new DefaultLogger('WARN') });
const fleet = await loadFleetFile(fleetFile, {});
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowBundle: { codePath: bundlePath },
  activities: createActivities({ fleet, logger: pino({ level: 'warn' }, pino.destination(2)) }),
  shutdownGraceTime: '5s',
  ...recoveryTuning,
  ...scaleWorkerTuning,
});
process.once('SIGTERM', () => worker.shutdown());
process.once('SIGINT', () => worker.shutdown());
const running = worker.run();
process.stdout.write('ready\n');
await running;
await connection.close();
