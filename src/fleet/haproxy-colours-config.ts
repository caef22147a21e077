import { colourMapPath } from '../adapters/haproxy-colours.ts';
import { type BlueGreenConfig, colourBackend, colourInstance, mapKeys, previewFrontend } from '../domain/blue-green.ts';
import type { ServiceConfig } from '../domain/fleet-config.ts';

/**
 * The HAProxy sections of a blue-green service (docs/blue-green.md): its frontend picks the live
 * colour's backend through the colour map, the blue backend is the service's usual one, the green
 * backend holds the green slots, and the preview frontend reaches whichever colour is idle.
 * `plain` is the service's usual frontend + backend, which this rewrites.
 */
export function colourSections(
  name: string,
  service: ServiceConfig,
  config: BlueGreenConfig,
  statsSocket: string,
  plain: string[],
): string[] {
  const map = colourMapPath(statsSocket, name);
  const blue = colourBackend(name, 'blue');
  const green = colourBackend(name, 'green');
  const frontendEnd = plain.indexOf('');
  const frontend = plain.slice(0, frontendEnd);
  const backend = plain.slice(frontendEnd + 1).filter((line) => line !== '');
  const settings = backend.filter((line) => !line.startsWith('  server ') && !line.startsWith('backend '));
  return [
    ...frontend.filter((line) => !line.startsWith('  default_backend ')),
    // One map lookup per request: `set map` on the runtime API moves all traffic at once.
    `  use_backend %[str(${mapKeys.live}),map(${map},${blue})]`,
    `  default_backend ${blue}`,
    '',
    ...backend,
    '',
    `backend ${green}`,
    ...settings,
    ...service.instances.map(
      (i, n) => `  server ${colourInstance(i.name, 'green')} ${i.address}:${config.greenPorts[n] ?? 0} check`,
    ),
    '',
    `frontend ${previewFrontend(name)}`,
    `  bind ${config.preview.address}:${config.preview.port}`,
    `  use_backend %[str(${mapKeys.idle}),map(${map},${green})]`,
    `  default_backend ${green}`,
    '',
  ];
}
