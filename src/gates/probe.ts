import { spawn } from 'node:child_process';
import { type ProbeConfig, substitute } from '../domain/gates.ts';

/**
 * Asks an external system about an artifact: runs the fleet file's command (argv, no shell) or
 * GETs its URL, bounded by the probe's timeout. Nothing here decides pass or fail; each gate reads
 * the answer on its own terms (ci.ts, alerts.ts).
 */

export interface ProbeAnswer {
  /** What was asked, for the evidence: the command line or `GET <url>`. */
  asked: string;
  /** A command's exit code (null when it could not run or was stopped), or an HTTP status (null unreachable). */
  code: number | null;
  /** Its output (stdout for a command, the body for HTTP), at most 64 KiB. */
  output: string;
  /** Why there is no answer: not found, unreachable, timed out. */
  error?: string;
}

const maxOutput = 64 * 1024;

export function askProbe(probe: ProbeConfig, values: Record<string, string>): Promise<ProbeAnswer> {
  const timeoutMs = probe.timeoutSeconds * 1000;
  return 'command' in probe
    ? runProbeCommand(
        probe.command.map((arg) => substitute(arg, values)),
        timeoutMs,
      )
    : getProbeUrl(substitute(probe.url, values, true), timeoutMs);
}

function runProbeCommand(argv: string[], timeoutMs: number): Promise<ProbeAnswer> {
  const [program, ...args] = argv;
  const asked = argv.join(' ');
  return new Promise((resolve) => {
    let output = '';
    let error: string | undefined;
    const child = spawn(program ?? '', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const keep = (chunk: Buffer) => {
      if (output.length < maxOutput) output += chunk.toString('utf8');
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', () => undefined);
    const timer = setTimeout(() => {
      error = `no answer within ${timeoutMs} ms`;
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, timeoutMs);
    child.once('error', (e) => {
      error = e.message;
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ asked, code: error ? null : code, output: output.slice(0, maxOutput), ...(error ? { error } : {}) });
    });
  });
}

async function getProbeUrl(url: string, timeoutMs: number): Promise<ProbeAnswer> {
  const asked = `GET ${url}`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    const output = (await response.text()).slice(0, maxOutput);
    return { asked, code: response.status, output };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { asked, code: null, output: '', error: cause?.code ?? cause?.message ?? (error as Error).message };
  }
}

/** One line of evidence about an answer. */
export function describeAnswer(answer: ProbeAnswer, what: 'exit' | 'status' = 'exit'): string {
  const excerpt = answer.output.trim().replace(/\s+/g, ' ').slice(0, 200);
  if (answer.error) return `${answer.asked}: ${answer.error}`;
  return `${answer.asked}: ${what} ${answer.code}${excerpt ? `, answered ${excerpt}` : ''}`;
}

export const isHttp = (probe: ProbeConfig) => 'url' in probe;
