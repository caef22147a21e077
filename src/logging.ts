import pino, { type Logger } from 'pino';

/**
 * The one pino logger of a process. JSON lines on stderr by default (stdout stays free for
 * command output); ZERODOWN_LOG_PRETTY=1 makes it readable for people, ZERODOWN_LOG_LEVEL sets the level.
 */
export function createLogger(name: string): Logger {
  const level = process.env.ZERODOWN_LOG_LEVEL ?? 'info';
  const pretty = process.env.ZERODOWN_LOG_PRETTY === '1';
  return pino(
    { name, level },
    pretty
      ? pino.transport({ target: 'pino-pretty', options: { destination: 2, colorize: process.stderr.isTTY } })
      : pino.destination(2),
  );
}
