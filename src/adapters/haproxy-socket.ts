import { createConnection } from 'node:net';
import { unreachable } from '../domain/errors.ts';

/**
 * HAProxy's runtime API over its stats socket: one command per connection, and the answer ends
 * when HAProxy closes the socket. No maintained npm client exists, and this is all it takes.
 */
export async function runtimeCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<string> {
  return runtimeCommands(socketPath, [command], timeoutMs);
}

/**
 * Several commands in one line (HAProxy runs them one after the other, and answers with each
 * answer in turn): what must happen without another client's command in between goes this way.
 */
export async function runtimeCommands(socketPath: string, commands: string[], timeoutMs = 5000): Promise<string> {
  for (const command of commands)
    if (/[\n;]/.test(command))
      throw new Error(`refusing a runtime API command with a newline or semicolon: ${command}`);
  const command = commands.join('; ');
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        unreachable(
          `HAProxy runtime API at ${socketPath} did not answer "${command}" within ${timeoutMs} ms`,
          'Check that HAProxy is running and not overloaded.',
        ),
      );
    }, timeoutMs);
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(socketError(socketPath, error));
    });
    socket.on('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/**
 * Part of the message, not the hint, so that it reaches a failed deployment's reason: after HAProxy
 * died mid-deployment, `fleet up` refuses mixed versions, and `fleet repair` is the way back.
 */
const repairAdvice =
  '; if the instances still run, `zerodown fleet repair` starts HAProxy in front of them as they are, then deploy the version you want everywhere';

function socketError(socketPath: string, error: NodeJS.ErrnoException): Error {
  switch (error.code) {
    case 'ENOENT':
      return unreachable(
        `HAProxy runtime API socket ${socketPath} does not exist${repairAdvice}`,
        'Start the load balancer (zerodown fleet up) or fix loadBalancer.statsSocket in the fleet file.',
      );
    case 'ECONNREFUSED':
      return unreachable(
        `HAProxy runtime API socket ${socketPath} refused the connection (HAProxy is not running)${repairAdvice}`,
        'Start the load balancer (zerodown fleet up).',
      );
    case 'EACCES':
      return unreachable(
        `no permission to open HAProxy runtime API socket ${socketPath}`,
        'Run zerodown as the user that owns the socket.',
      );
    default:
      return unreachable(`cannot talk to HAProxy runtime API socket ${socketPath}: ${error.message}`);
  }
}

/**
 * Parses `show stat` CSV by header name (column positions change between HAProxy versions). With
 * `proxy`, only that proxy's rows (`pxname`; a name holds no comma; no such column, no rows): a
 * reading polled every few milliseconds then builds the rows of one service, not of every service.
 */
export function parseStatCsv(csv: string, proxy?: string): Array<Record<string, string>> {
  const lines = csv.split('\n').filter((line) => line.trim() !== '');
  const header = lines.shift();
  if (!header?.startsWith('# ')) throw new Error(`unexpected "show stat" answer: ${csv.slice(0, 200)}`);
  const names = header.slice(2).split(',');
  const at = names.indexOf('pxname');
  const rows = proxy === undefined ? lines : lines.filter((line) => at >= 0 && line.split(',', at + 1)[at] === proxy);
  return rows.map((line) => {
    const values = line.split(',');
    return Object.fromEntries(names.map((name, i) => [name, values[i] ?? '']));
  });
}
