import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  hostLossPauser,
  hostSilence,
  isSkipped,
  skipHostRefusal,
  withHostBack,
  withHostLost,
  withHostSkipped,
} from '../../src/domain/host-loss.ts';
import { currentDetails } from '../../src/domain/deployment-views.ts';
import { initialStatus, withPhase, type DeploymentStatus } from '../../src/domain/status.ts';
import { applyCommand, refusal } from '../../src/domain/operator-commands.ts';
import { claimHostsLayout, hostsLayout, networkDown } from '../../src/fleet/hosts-network.ts';

const fresh = (): DeploymentStatus =>
  withPhase(
    initialStatus({
      service: 'api',
      version: '2.0.0',
      instances: [
        { instance: 'a', host: 'h1' },
        { instance: 'b', host: 'h2' },
        { instance: 'c', host: 'h2' },
      ],
      batches: 3,
      now: 0,
    }),
    'deploying',
    'batch 1/3',
    1,
  );
const lost = (host = 'h2') => ({ host, queue: `zerodown@${host}`, since: 5, message: hostSilence(`zerodown@${host}`) });

describe('a lost host (domain/host-loss.ts)', () => {
  it('says which queue went unpolled for how long, and holds the deployment paused', () => {
    const s = withHostLost(fresh(), lost());
    assert.equal(hostSilence('zerodown@h2'), 'no worker has polled zerodown@h2 for 30 s');
    assert.equal(s.pauseRequestedBy, hostLossPauser);
    assert.match(s.lastError ?? '', /host h2: no worker has polled zerodown@h2 for 30 s/);
    assert.match(s.events.at(-1)?.message ?? '', /zerodown skip-host api h2/);
    // Reported once, however many steps hit the silent host.
    assert.equal(withHostLost(s, lost()).events.length, s.events.length);
  });

  it('resume lifts the pause (the step runs again); the host is listed until its worker answers', () => {
    const s = withHostLost(fresh(), lost());
    assert.equal(refusal(s, { type: 'resume', by: 'op' }), undefined);
    const resumed = applyCommand(s, { type: 'resume', by: 'op' }, 6);
    assert.equal(resumed.pauseRequestedBy, undefined);
    assert.equal(resumed.lostHosts?.length, 1);
    assert.deepEqual(withHostBack(resumed, 'h2', 7).lostHosts, []);
  });

  it('skip-host leaves the host for good and lifts the pause once no lost host remains', () => {
    const both = withHostLost(withHostLost(fresh(), lost('h2')), lost('h1'));
    const one = withHostSkipped(both, 'h2', 'op', 8);
    assert.ok(isSkipped(one, 'h2'));
    assert.equal(one.pauseRequestedBy, hostLossPauser, 'h1 is still lost');
    assert.match(one.events.at(-1)?.message ?? '', /host h2 skipped by op: b, c left as they are/);
    const none = withHostSkipped(one, 'h1', 'op', 9);
    assert.equal(none.pauseRequestedBy, undefined);
  });

  it("an operator's own pause stays when a host is skipped", () => {
    const s = withHostSkipped(applyCommand(fresh(), { type: 'pause', by: 'alice' }, 2), 'h2', 'op', 3);
    assert.equal(s.pauseRequestedBy, 'alice');
  });

  it("the Web UI's current details name the lost host and the choices; the error goes once it is skipped", () => {
    const s = withHostLost(fresh(), lost());
    assert.match(currentDetails(s), /Host h2: no worker has polled zerodown@h2 for 30 s\. restart the worker of h2/);
    const skipped = withHostSkipped(s, 'h2', 'op', 9);
    assert.doesNotMatch(currentDetails(skipped), /no worker has polled/);
    assert.equal(skipped.lastError, undefined);
  });

  it('skip-host is refused for an unknown host, twice, or once finished', () => {
    assert.match(skipHostRefusal(fresh(), 'h9') ?? '', /no instance of api runs on host h9 \(hosts: h1, h2\)/);
    assert.match(skipHostRefusal(withHostSkipped(fresh(), 'h2', 'op', 2), 'h2') ?? '', /already skipped/);
    assert.match(skipHostRefusal(withPhase(fresh(), 'succeeded', 'done', 3), 'h2') ?? '', /finished/);
    assert.equal(skipHostRefusal(fresh(), 'h2'), undefined);
  });
});

describe('the hosts layout (fleet/hosts-network.ts)', () => {
  it('gives each host a namespace and an address on the private /24', () => {
    const layout = hostsLayout(3, '10.213.7');
    assert.equal(layout.gateway, '10.213.7.1');
    assert.equal(layout.temporal.address, '10.213.7.2');
    assert.equal(layout.loadBalancer.address, '10.213.7.10');
    assert.deepEqual(
      layout.hosts.map((h) => [h.name, h.namespace, h.address]),
      [
        ['h1', 'zd7-h1', '10.213.7.11'],
        ['h2', 'zd7-h2', '10.213.7.12'],
        ['h3', 'zd7-h3', '10.213.7.13'],
      ],
    );
    for (const h of [layout.temporal, layout.loadBalancer, ...hostsLayout(200, '10.213.255').hosts])
      assert.ok(Buffer.byteLength(h.link) <= 15, `${h.link} fits a link name`);
  });

  it('refuses a subnet outside the private ranges, and a bad count, saying what was wrong', () => {
    assert.throws(() => hostsLayout(3, '8.8.8'), /hosts subnet: must be inside a private range/);
    assert.throws(() => hostsLayout(3, '10.213'), /hosts subnet: must be the first three octets of a \/24/);
    assert.throws(() => hostsLayout(3, '10.300.0'), /each octet must be at most 255/);
    assert.throws(() => hostsLayout(0), /hosts count: must be a whole number from 1 to 200/);
  });

  it('claims a subnet no other layout holds, and gives it back when the network goes down', async (t) => {
    // A narrow range of its own (10.213.90-91), so this test cannot take a subnet from a running hosts test.
    const range = { first: 90, last: 91 };
    const a = await claimHostsLayout(1, range);
    t.after(() => networkDown(a));
    const b = await claimHostsLayout(1, range);
    t.after(() => networkDown(b));
    assert.notEqual(a.subnet, b.subnet, 'two claims at once get two subnets');
    await assert.rejects(
      claimHostsLayout(1, range),
      /no free test subnet: every bridge from 10\.213\.90 to 10\.213\.91 exists/,
    );
    await networkDown(a);
    const again = await claimHostsLayout(1, range);
    t.after(() => networkDown(again));
    assert.equal(again.subnet, a.subnet, 'a released subnet can be claimed again');
  });
});
