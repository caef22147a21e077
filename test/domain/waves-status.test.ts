import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deploymentSpec } from '../../src/domain/deployment.ts';
import { type DeploymentStatus, type InstanceStatus, initialStatus } from '../../src/domain/status.ts';
import { planWaves, stagedDeploymentInput, wavesConfig } from '../../src/domain/waves.ts';
import {
  initialStages,
  stageLines,
  stagesOfResult,
  withPartPhase,
  withPartProgress,
  withStageState,
} from '../../src/domain/waves-status.ts';

/** docs/waves.md, "Status": eu = h1 (a1, a2), us = h2 (b1, b2), in two waves. */
const spec = deploymentSpec.parse({
  service: 'api',
  version: '2.0.0',
  instances: [
    { instance: 'a1', host: 'h1', taskQueue: 'q@h1' },
    { instance: 'a2', host: 'h1', taskQueue: 'q@h1' },
    { instance: 'b1', host: 'h2', taskQueue: 'q@h2' },
    { instance: 'b2', host: 'h2', taskQueue: 'q@h2' },
  ],
  loadBalancerTaskQueue: 'q',
  batchSize: 1,
});
const input = stagedDeploymentInput.parse(
  planWaves(spec, wavesConfig.parse({ regions: { eu: ['h1'], us: ['h2'] }, order: [['eu'], ['us']] })),
);

function started(): DeploymentStatus {
  const status = initialStatus({ service: 'api', version: '2.0.0', instances: spec.instances, batches: 2, now: 0 });
  return { ...status, stages: initialStages(input, 'deploy-api') };
}

const instance = (name: string, state: InstanceStatus['state'], version: string): InstanceStatus => ({
  instance: name,
  host: name.startsWith('a') ? 'h1' : 'h2',
  state,
  version,
  changed: true,
  timings: {},
});

const progress = (workflowId: string, instances: InstanceStatus[], batch = 2) => ({
  workflowId,
  phase: 'deploying' as const,
  step: '',
  batch,
  batches: 2,
  previousVersion: '1.0.0',
  instances,
});

describe('waves status', () => {
  it("shows each region's progress from its child's reports", () => {
    let s = withStageState(started(), 0, 'deploying');
    s = withPartPhase(s, 'deploy-api/stage-1-eu', 'validating');
    assert.deepEqual(stageLines(s.stages, s.instances), [
      'wave 1 deploying: eu 0/2 updated (validating, batch 0/2)',
      'wave 2 pending: us 0/2 updated (pending, batch 0/2)',
    ]);
    s = withPartProgress(s, progress('deploy-api/stage-1-eu', [instance('a1', 'updated', '2.0.0')], 1));
    assert.equal(stageLines(s.stages, s.instances)[0], 'wave 1 deploying: eu 1/2 updated (deploying, batch 1/2)');
    assert.equal(s.previousVersion, '1.0.0');
  });

  it("counts the instances a restoring child puts back as restored, and leaves the part's own phase alone", () => {
    let s = withPartProgress(
      started(),
      progress('deploy-api/stage-1-eu', [instance('a1', 'updated', '2.0.0'), instance('a2', 'updated', '2.0.0')]),
    );
    s = withPartPhase(
      withStageState(s, 0, 'restoring'),
      'deploy-api/stage-1-eu',
      'rolling-back',
      'deploy-api/restore-eu',
    );
    // The restoring child deploys the previous version: to it, its instances are "updated".
    s = withPartProgress(s, { ...progress('deploy-api/restore-eu', [instance('a1', 'updated', '1.0.0')], 1) });
    assert.equal(
      stageLines(s.stages, s.instances)[0],
      'wave 1 restoring: eu 1/2 updated, 1 restored (rolling-back, batch 2/2)',
    );
    assert.equal(s.previousVersion, '1.0.0');
  });

  it("takes stages from a staged deployment's result only", () => {
    const stages = started().stages;
    assert.deepEqual(stagesOfResult({ phase: 'succeeded', stages }), { stages });
    assert.deepEqual(stagesOfResult({ phase: 'succeeded' }), {});
    assert.deepEqual(stagesOfResult({ stages: { kind: 'other', stages: [] } }), {});
    assert.deepEqual(stagesOfResult(undefined), {});
  });
});
