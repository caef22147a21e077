import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import { plainView } from '../../src/client/live-view.ts';
import { renderFrame } from '../../src/client/render.ts';

const status: DeploymentStatus = {
  service: 'api',
  version: '2.0.0',
  previousVersion: '1.0.0',
  phase: 'deploying',
  step: 'updating api-1',
  batch: 1,
  batches: 2,
  instances: [{ instance: 'api-1', host: 'local', state: 'updated', version: '2.0.0', changed: true, timings: {} }],
  startedAt: 0,
  events: [{ at: 0, kind: 'phase', message: 'deploying' }],
};

test('the plain live view says when no worker answers, also while an earlier status is still shown, once per silence', () => {
  const lines: string[] = [];
  const view = plainView((line) => lines.push(line));
  const silent = { now: 0, waitingFor: 'no worker is polling task queue q: the deployment waits until one runs' };
  view.show(status, { now: 0 });
  view.show(status, silent);
  view.show(status, silent);
  assert.equal(lines.filter((l) => l.includes('no worker is polling task queue q')).length, 1);
  view.show(status, { now: 0 });
  view.show(status, silent);
  assert.equal(
    lines.filter((l) => l.includes('no worker is polling task queue q')).length,
    2,
    'said again after the worker came back and went',
  );
});

test("an operator's reason with control characters is escaped in the live view and the status frame", () => {
  const evil: DeploymentStatus = {
    ...status,
    phase: 'rolling-back',
    rollback: { reason: 'bad\u001b[2J\u202e', by: 'x', automatic: false },
    events: [{ at: 0, kind: 'operator', message: 'rollback requested: bad\u001b[2J' }],
  };
  const lines: string[] = [];
  plainView((line) => lines.push(line)).show(evil, { now: 0 });
  const frame = renderFrame(evil, { now: 0 }).join('\n');
  for (const text of [lines.join('\n'), frame]) {
    // eslint-disable-next-line no-control-regex -- finding raw control characters is the point
    assert.doesNotMatch(text, /[\u001b\u202e]/);
    assert.match(text, /bad\\u001b\[2J/);
  }
});
