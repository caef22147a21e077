import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exitCodes, ZerodownError } from '../../src/domain/errors.ts';
import { connectClient } from '../../src/temporal/connection.ts';
import { runCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/ports.ts';
import { temporalAddress } from '../helpers/temporal.ts';

/** Asserts the CLI failed with one clear message: no stack trace, no SDK noise. */
function assertOneClearMessage(stderr: string, expected: RegExp): void {
  const lines = stderr.trim().split('\n');
  assert.match(lines[0] ?? '', expected);
  assert.ok(lines.length <= 2, `expected a message and at most one hint line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\bat .+:\d+:\d+/, 'no stack trace');
}

describe('connection settings', () => {
  it('an unreachable address gives one clear line and the unreachable exit code', async () => {
    const closedPort = await freePort();
    const result = await runCli(['worker', '--address', `127.0.0.1:${closedPort}`], { timeoutMs: 30_000 });
    assert.equal(result.code, exitCodes.unreachable);
    assertOneClearMessage(
      result.stderr,
      new RegExp(`^zerodown: cannot reach Temporal at 127\\.0\\.0\\.1:${closedPort}`),
    );
    assert.match(result.stderr, /zerodown server start/);
  });

  it('a process that goes on after finding no server is not ended by the failed connection later', async () => {
    // `zerodown demo` finds no server, starts one and goes on; the SDK's retry of the namespace check
    // on the failed connection used to fire after that connection was closed, throwing from a timer.
    const closedPort = await freePort();
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', record);
    try {
      await assert.rejects(
        connectClient({ address: `127.0.0.1:${closedPort}`, namespace: 'default' }, 500),
        (error: unknown) => error instanceof ZerodownError && error.kind === 'unreachable',
      );
      // Longer than the check's deadline and the SDK's retry backoff after it.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
    } finally {
      process.off('uncaughtException', record);
    }
    assert.deepEqual(uncaught.map(String), []);
  });

  it('a namespace that does not exist is named, with what to do', async () => {
    const result = await runCli(['worker', '--address', temporalAddress, '--namespace', 'no-such-namespace']);
    assert.equal(result.code, exitCodes.badInput);
    assertOneClearMessage(
      result.stderr,
      /^zerodown: namespace "no-such-namespace" does not exist on the Temporal server at /,
    );
  });

  it('a malformed address is refused before anything is tried', async () => {
    const result = await runCli(['worker', '--address', 'not an address']);
    assert.equal(result.code, exitCodes.badInput);
    assert.match(result.stderr, /address: must be host:port/);
  });

  it('reads the address from TEMPORAL_ADDRESS when no flag is given', async () => {
    const closedPort = await freePort();
    const result = await runCli(['worker'], {
      env: { TEMPORAL_ADDRESS: `127.0.0.1:${closedPort}` },
      timeoutMs: 30_000,
    });
    assert.equal(result.code, exitCodes.unreachable);
    assert.match(result.stderr, new RegExp(`127\\.0\\.0\\.1:${closedPort}`));
  });

  it('a TLS certificate without its key is refused with the field named', async () => {
    const result = await runCli(['worker', '--tls-cert-path', '/tmp/cert.pem']);
    assert.equal(result.code, exitCodes.badInput);
    assert.match(result.stderr, /tlsKeyPath: a TLS client certificate and its key go together/);
  });
});
