import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { refused } from '../domain/errors.ts';

/**
 * Build evidence (seed §3.1), recorded in the artifact's metadata.json at build time so the
 * artifact's signature covers it: the checks that ran (command, exit code, duration), who reviewed
 * the commit, and the hash of the lockfile the dependencies were installed from. The gates
 * (src/gates/) read it back through `metadataSchema`.
 */

/** One check run at build time, e.g. `npm test`. */
export const checkRecord = z.object({
  command: z.string(),
  exitCode: z.number().int().nullable(),
  durationMs: z.number().min(0),
  startedAt: z.string(),
  /** The last lines of its output, for the evidence. */
  outputTail: z.string(),
});
export type CheckRecord = z.infer<typeof checkRecord>;

/** The lockfile the packaged dependencies come from. */
export const dependencyRecord = z.object({ lockfile: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) });
export type DependencyRecord = z.infer<typeof dependencyRecord>;

/** What metadata.json holds; the fields of build evidence are optional (artifacts built before them lack them). */
export const metadataSchema = z
  .object({
    service: z.string(),
    version: z.string(),
    builtAt: z.string(),
    builder: z.string(),
    commit: z
      .object({
        sha: z.string(),
        branch: z.string(),
        dirty: z.boolean(),
        author: z.string().optional(),
        reviewers: z.array(z.string()).optional(),
      })
      .loose(),
    checks: z.array(checkRecord).optional(),
    dependencies: dependencyRecord.nullable().optional(),
  })
  .loose();
export type RecordedMetadata = z.infer<typeof metadataSchema>;

/** The longest a check may run: a test suite, not a forgotten watch mode. */
export const checkTimeoutMs = 30 * 60_000;
const tailBytes = 2000;

/**
 * Runs each check in turn through `/bin/sh -c` in `cwd` (they are the builder's own commands, as
 * typed into a CI script), bounded by `timeoutMs`, and records what happened. A failing check stops
 * the build unless `allowFailures`: its record then says so, and the gates refuse it.
 */
export async function runChecks(
  commands: readonly string[],
  {
    cwd,
    timeoutMs = checkTimeoutMs,
    allowFailures = false,
  }: { cwd: string; timeoutMs?: number; allowFailures?: boolean },
): Promise<CheckRecord[]> {
  const records: CheckRecord[] = [];
  for (const command of commands) {
    const record = await runCheck(command, cwd, timeoutMs);
    records.push(record);
    if (record.exitCode !== 0 && !allowFailures) {
      throw refused(
        `check "${command}" failed (exit ${record.exitCode ?? 'none: stopped after the time limit'}) in ${record.durationMs} ms, so nothing was built:\n${record.outputTail}`,
        'Fix it and build again (or pass --allow-failed-checks to record the failure: gates that require the check refuse it).',
      );
    }
  }
  return records;
}

function runCheck(command: string, cwd: string, timeoutMs: number): Promise<CheckRecord> {
  const startedAt = new Date();
  const started = performance.now();
  return new Promise((resolve) => {
    let output = '';
    const child = spawn('/bin/sh', ['-c', command], { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-tailBytes);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    // The whole process group: a test runner's children must not outlive the limit.
    const timer = setTimeout(() => {
      output += `\n(stopped after ${timeoutMs} ms)`;
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, timeoutMs);
    const done = (exitCode: number | null) => {
      clearTimeout(timer);
      resolve({
        command,
        exitCode,
        durationMs: Math.round(performance.now() - started),
        startedAt: startedAt.toISOString(),
        outputTail: output.slice(-tailBytes),
      });
    };
    child.once('error', (error) => {
      output += `\n${error.message}`;
      done(null);
    });
    child.once('close', (code) => done(code));
  });
}

/** Lockfiles zerodown knows, most specific first. */
export const lockfileNames = ['npm-shrinkwrap.json', 'package-lock.json', 'yarn.lock', 'pnpm-lock.yaml'] as const;

/** The lockfile at the root of the build output and its sha256, or null when it has none. */
export async function lockfileRecord(root: string): Promise<DependencyRecord | null> {
  for (const name of lockfileNames) {
    const bytes = await readFile(join(root, name)).catch(() => undefined);
    if (bytes) return { lockfile: name, sha256: createHash('sha256').update(bytes).digest('hex') };
  }
  return null;
}

/**
 * Reviewers named on the command line and in the commit's `Reviewed-by:` trailers, each once
 * (compared without case), in the order first given.
 */
export function mergeReviewers(...lists: ReadonlyArray<readonly string[]>): string[] {
  const seen = new Map<string, string>();
  for (const name of lists.flat().map((n) => n.trim()))
    if (name && !seen.has(name.toLowerCase())) seen.set(name.toLowerCase(), name);
  return [...seen.values()];
}
