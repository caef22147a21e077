import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderOutcome } from '../../src/client/render.ts';
import type { DeploymentResult } from '../../src/workflows/outcome.ts';

const result = (overrides: Partial<DeploymentResult>): DeploymentResult => ({
  service: 'api',
  version: '1.4.2',
  previousVersion: '1.4.1',
  phase: 'succeeded',
  wallMs: 1500,
  instances: [
    { instance: 'api-1', host: 'local', state: 'updated', version: '1.4.2', changed: true, timings: {} },
    { instance: 'api-2', host: 'local', state: 'updated', version: '1.4.2', changed: true, timings: {} },
  ],
  ...overrides,
});

describe('renderOutcome', () => {
  it('says a succeeded deployment that changed nothing had nothing to do', () => {
    const reason = 'nothing to do: every instance of api already runs 1.4.2';
    const lines = renderOutcome('api', '1.4.2', { phase: 'succeeded', reason, result: result({ reason }) }, undefined);
    assert.match(lines[0] ?? '', /^api 1\.4\.2: succeeded in 1\.5s — 2 instances run 1\.4\.2$/);
    assert.equal(lines[1], `  ${reason}`);
  });

  it('prints a plain success on one line', () => {
    const lines = renderOutcome('api', '1.4.2', { phase: 'succeeded', result: result({}) }, undefined);
    assert.equal(lines.length, 1);
  });
});
