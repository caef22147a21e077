import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import autocannon from 'autocannon';
import { waitForEndpoint } from '../../src/adapters/instance-probe.ts';
import { readmit, waitUntilIdle } from '../../src/adapters/load-balancer.ts';
import { haproxyFilesFor } from '../../src/fleet/local-fleet.ts';
import { serverRef } from '../../src/fleet/wiring.ts';
import { createTestFleet, sleep } from '../helpers/local-fleet.ts';

test('a rolling restart onto a new version under continuous load fails no request, with HAProxy retries off', async (t) => {
  const fleet = await createTestFleet({
    instances: 3,
    retries: false,
    upVersion: '1.0.0',
    versions: { '1.0.0': undefined, '2.0.0': undefined },
  });
  t.after(() => fleet.cleanup());
  // Retries and redispatch must be off, or HAProxy could hide a request the drain logic lost.
  const config = await readFile(haproxyFilesFor(fleet.fleet).config, 'utf8');
  assert.match(config, /retries 0/);
  assert.match(config, /no option redispatch/);
  const before = await fleet.lb.frontend('api');

  const load = autocannon({
    url: `http://127.0.0.1:${fleet.frontendPort}/api/orders?delay=20`,
    connections: 16,
    duration: 8,
    timeout: 5,
  });
  const timeline: string[] = [];
  await sleep(1000);
  // The safe sequence, one instance at a time: drain, wait until idle, install, restart,
  // prove it ready, re-admit only after HAProxy's own check passes.
  for (const ref of fleet.refs) {
    const server = serverRef(ref);
    await fleet.lb.drain(server);
    const idle = await waitUntilIdle(fleet.lb, server, { timeoutMs: 5000 });
    assert.equal(idle.currentSessions, 0);
    await fleet.runtime.install(ref, '2.0.0');
    const restarted = await fleet.runtime.restart(ref, { timeoutMs: 5000 });
    assert.equal(restarted.report?.version, '2.0.0');
    assert.ok((await waitForEndpoint(ref, 'readiness', { timeoutMs: 5000 })).ok);
    await readmit(fleet.lb, server, { timeoutMs: 5000 });
    timeline.push(`${ref.instance} on 2.0.0`);
    await sleep(300);
  }
  const result = await load;
  const after = await fleet.lb.frontend('api');

  assert.deepEqual(
    timeline,
    ['api-1 on 2.0.0', 'api-2 on 2.0.0', 'api-3 on 2.0.0'],
    'the whole rollout finished inside the load window',
  );
  assert.equal(result.errors, 0, 'connection errors seen by the load generator');
  assert.equal(result.timeouts, 0, 'timeouts seen by the load generator');
  assert.equal(result.non2xx, 0, 'non-2xx responses seen by the load generator');
  assert.ok(result.requests.total > 2000, `enough requests to mean something (${result.requests.total})`);
  assert.equal(after.figures.http5xx - before.figures.http5xx, 0, '5xx counted at the HAProxy frontend');
  assert.equal(after.figures.retries + after.figures.redispatches, 0);
  const servers = await fleet.lb.servers('api');
  assert.ok(
    servers.every(
      (s) => s.admin === 'ready' && s.status === 'UP' && s.figures.http5xx === 0 && s.figures.connectionErrors === 0,
    ),
  );
  const versions = await fleet.runningVersions();
  assert.deepEqual(versions, ['2.0.0', '2.0.0', '2.0.0']);
  t.diagnostic(
    `served ${result.requests.total} requests through HAProxy during the rollout; p99 latency ${result.latency.p99} ms`,
  );
});
