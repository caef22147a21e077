import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Colour, backendColour, colourBackend, mapKeys, otherColour } from '../domain/blue-green.ts';
import { ZerodownError, badInput } from '../domain/errors.ts';
import { runtimeCommand } from './haproxy-socket.ts';

/**
 * The blue-green swap on HAProxy (docs/blue-green.md). The service's frontend picks its backend per
 * request with `use_backend %[str(live),map(<file>,<service>)]`, the preview frontend with the `idle`
 * key. A swap is one `set map <file> live <backend>` on the runtime API: atomic, and applied to the
 * very next request (established connections included; requests in flight finish where they are).
 * The file is then rewritten, so an HAProxy reload or restart loads the colour that is live.
 */

/** The colour map lives next to the runtime API socket, so the config and the activities agree on it. */
export const colourMapPath = (statsSocket: string, service: string): string =>
  join(dirname(statsSocket), `${service}.colours.map`);

export function colourMapText(service: string, live: Colour): string {
  return `${mapKeys.live} ${colourBackend(service, live)}\n${mapKeys.idle} ${colourBackend(service, otherColour(live))}\n`;
}

/** The live colour the map file records (what a reload would load), or undefined when there is no file. */
export async function recordedLiveColour(path: string, service: string): Promise<Colour | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const line = text.split('\n').find((l) => l.trim().split(/\s+/)[0] === mapKeys.live);
  return backendColour(service, line?.trim().split(/\s+/)[1] ?? '') ?? 'blue';
}

/** Writes the map file when it is missing (blue live); an existing file is the persisted state and is kept. */
export async function ensureColourMap(path: string, service: string): Promise<void> {
  if ((await recordedLiveColour(path, service)) === undefined) await writeMap(path, service, 'blue');
}

/** The live colour HAProxy serves right now, read with `show map`. */
export async function servingLiveColour(
  socket: string,
  path: string,
  service: string,
  timeoutMs = 5000,
): Promise<Colour> {
  const answer = await runtimeCommand(socket, `show map ${path}`, timeoutMs);
  // Each line: `<entry id> <key> <value>`.
  for (const line of answer.split('\n')) {
    const [, key, value] = line.trim().split(/\s+/);
    if (key !== mapKeys.live) continue;
    const found = backendColour(service, value ?? '');
    if (found) return found;
  }
  throw badInput(
    `HAProxy has no colour map ${path} for ${service} (answer: ${answer.trim().slice(0, 200) || 'empty'})`,
    'The service needs a blueGreen block in the fleet file and an HAProxy started from it (zerodown fleet down, then fleet up).',
  );
}

/**
 * Makes `live` the live colour: the one runtime command that moves all traffic, then the preview
 * key, then the file. Idempotent: setting what is already set changes nothing, so a retry after a
 * crash between the command and the file write completes the swap.
 */
export async function setLiveColour(
  socket: string,
  path: string,
  service: string,
  live: Colour,
): Promise<{ liveCommandMs: number }> {
  const started = performance.now();
  await expectEmpty(socket, `set map ${path} ${mapKeys.live} ${colourBackend(service, live)}`);
  // HAProxy has answered: every request from now on is routed to `live`.
  const liveCommandMs = performance.now() - started;
  await expectEmpty(socket, `set map ${path} ${mapKeys.idle} ${colourBackend(service, otherColour(live))}`);
  await writeMap(path, service, live);
  return { liveCommandMs };
}

async function expectEmpty(socket: string, command: string): Promise<void> {
  const answer = (await runtimeCommand(socket, command, 5000)).trim();
  if (answer !== '') throw new ZerodownError('failed', `HAProxy refused "${command}": ${answer}`);
}

/** Write-then-rename: a crash never leaves a half-written map for the next reload. */
async function writeMap(path: string, service: string, live: Colour): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(temporary, colourMapText(service, live));
  await rename(temporary, path);
}
