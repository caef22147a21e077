/**
 * The hollow-instance process (docs/scale.md): `node hollow-main.js <control-address> <control-port>
 * [<health-paths-json>]`. Serves every hollow instance's port and the control channel; prints one
 * JSON line `{"control":"address:port","pid":…}` on stdout once the control channel listens. Stops
 * on SIGTERM or SIGINT, closing every port. Started by `startHollowProcess` (hollow-process.ts).
 */
import * as z from 'zod';
import { hollowControlServer } from './hollow-control.ts';
import { HollowPorts } from './hollow-ports.ts';

const healthPaths = z
  .object({
    liveness: z.string().startsWith('/'),
    readiness: z.string().startsWith('/'),
    status: z.string().startsWith('/'),
  })
  .strict();
const defaults = {
  liveness: '/api/health/liveness',
  readiness: '/api/health/readiness',
  status: '/api/health/status',
};

const [address = '127.0.0.1', portText = '0', healthJson] = process.argv.slice(2);
const health = healthPaths.parse(healthJson ? JSON.parse(healthJson) : defaults);
const ports = new HollowPorts(health);
const control = hollowControlServer(ports);
control.keepAliveTimeout = 65_000;
control.listen(Number(portText), address, () => {
  const bound = control.address();
  const port = typeof bound === 'object' && bound ? bound.port : Number(portText);
  process.stdout.write(`${JSON.stringify({ control: `${address}:${port}`, pid: process.pid })}\n`);
});

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  control.close();
  control.closeAllConnections();
  await ports.closeAll();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
