import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  commandDescription,
  currentDetails,
  headline,
  nextAction,
  operatorCommands,
  phaseHeadline,
  phases,
  staticDetails,
  staticSummary,
  workflowRunUrl,
  type StatusView,
} from '../../src/domain/deployment-views.ts';
import { commandDescriptions, commandNames } from '../../src/workflows/messages.ts';

const base: StatusView = {
  service: 'api',
  version: '1.4.2',
  previousVersion: '1.4.1',
  phase: 'deploying',
  step: 'batch 1/2: api-1',
  batch: 1,
  batches: 2,
  instances: [
    { instance: 'api-1', host: 'local', state: 'baking', version: '1.4.2', changed: true, timings: {} },
    { instance: 'api-2', host: 'local', state: 'pending', version: '1.4.1', changed: false, timings: {} },
  ],
};
const at = (patch: Partial<StatusView>): StatusView => ({ ...base, ...patch });

describe('what the Web UI shows of a deployment', () => {
  it('gives every phase its own capitalised headline', () => {
    const headlines = phases.map(phaseHeadline);
    assert.equal(new Set(headlines).size, phases.length);
    assert.equal(phaseHeadline('awaiting-approval'), 'WAITING FOR APPROVAL');
    assert.equal(phaseHeadline('rolled-back'), 'ROLLED BACK');
  });

  it('puts phase, service and from → to version on the first line', () => {
    assert.equal(headline(base), '**DEPLOYING** · api 1.4.1 → 1.4.2 · batch 1/2');
    assert.equal(headline(at({ previousVersion: undefined, batches: 0 })), '**DEPLOYING** · api ? → 1.4.2');
    assert.equal(currentDetails(base).split('\n')[0], headline(base));
  });

  it('tells a person how to approve a waiting deployment, from the UI and from the CLI', () => {
    const text = nextAction(at({ phase: 'awaiting-approval' }));
    assert.match(text, /^Waiting for approval: send the \*\*approve\*\* signal or update with `\{"by": "your name"\}`/);
    assert.match(text, /run `zerodown approve api`\.$/);
  });

  it('says who paused and how to resume', () => {
    const text = nextAction(at({ phase: 'paused', pauseRequestedBy: 'carol' }));
    assert.match(text, /^Paused by carol, between batches: send the \*\*resume\*\* signal/);
    assert.match(text, /`zerodown resume api`/);
  });

  it('offers the rollback, with its reason, while deploying', () => {
    const text = nextAction(base);
    assert.match(text, /^batch 1\/2: api-1\. To stop and restore 1\.4\.1:/);
    assert.match(text, /`\{"by": "your name", "reason": "why"\}`/);
    assert.match(text, /`zerodown rollback api --reason "…"`/);
  });

  it('says plainly that a rolled-back or aborted deployment did not deploy, although Temporal shows Completed', () => {
    const rolledBack = at({
      phase: 'rolled-back',
      rollback: { reason: 'p99 is up', by: 'erin', automatic: false },
    });
    assert.equal(
      nextAction(rolledBack),
      'Temporal shows "Completed" because the workflow ended, but 1.4.2 was not deployed: p99 is up. The changed instances run 1.4.1 again.',
    );
    const details = currentDetails(rolledBack);
    assert.match(details, /^\*\*ROLLED BACK\*\* · api 1\.4\.1 → 1\.4\.2/);
    assert.match(details, /Rollback: p99 is up \(by erin\)/);
    const aborted = nextAction(
      at({ phase: 'aborted', abort: { reason: 'the workflow was cancelled', by: 'temporal' } }),
    );
    assert.match(aborted, /1\.4\.2 was not deployed: the workflow was cancelled/);
  });

  it('names the error of a failed deployment once, with where to read more', () => {
    const failed = at({ phase: 'failed', lastError: 'validation failed, nothing was changed: bad signature' });
    assert.equal(
      nextAction(failed),
      'validation failed, nothing was changed: bad signature. Read the deployment log with `zerodown logs api`.',
    );
    assert.doesNotMatch(currentDetails(failed), /Last error:/, 'not repeated below the table');
    assert.match(currentDetails(at({ lastError: 'api-2: timeout' })), /Last error: api-2: timeout/);
  });

  it('lists every instance with its host, state and version', () => {
    const details = currentDetails(base);
    assert.match(details, /\| api-1 \| local \| baking \| 1\.4\.2 \|/);
    assert.match(details, /\| api-2 \| local \| pending \| 1\.4\.1 \|/);
  });

  it('has a next action for every phase', () => {
    for (const phase of phases) assert.ok(nextAction(at({ phase })).length > 10, phase);
  });
});

describe('the static summary and details of a run', () => {
  const start = {
    service: 'api',
    version: '1.4.2',
    instances: 4,
    batchSize: 1,
    requireApproval: true,
    requestedBy: 'dana',
  };

  it('fits the summary on one line and says when approval is needed', () => {
    assert.equal(staticSummary(start), 'Deploy api 1.4.2 to 4 instances, 1 at a time, after approval');
    assert.equal(staticSummary({ ...start, requireApproval: false }), 'Deploy api 1.4.2 to 4 instances, 1 at a time');
  });

  it('explains every command with its input, and what Request Cancellation does', () => {
    const details = staticDetails(start);
    assert.match(details, /requested by dana/);
    for (const [name, { input }] of Object.entries(operatorCommands))
      assert.ok(details.includes(`**${name}** \`${input}\``), `${name} is explained`);
    assert.match(details, /\*\*Request Cancellation\*\* aborts the deployment and restores every changed instance/);
  });
});

describe('the descriptions the signal and update dialogs show', () => {
  it('describes each handler in one line with the input it expects', () => {
    assert.deepEqual(Object.keys(operatorCommands).sort(), [...commandNames].sort());
    for (const name of commandNames) {
      assert.equal(commandDescriptions[name], commandDescription(name));
      assert.doesNotMatch(commandDescriptions[name], /\n/);
      if (name === 'verify') continue; // two shapes, checked below
      assert.match(commandDescriptions[name], /^[A-Z].*\. Input: \{"by": "your name"(, "reason": "why")?\}$/);
    }
    assert.match(
      commandDescriptions.verify,
      /^[A-Z].*\. Input: \{"by": "your name", "verdict": "ok"\} or \{"by": "your name", "verdict": "reject", "reason": "why"\}$/,
    );
    assert.match(commandDescriptions.rollback, /"reason": "why"/);
    assert.doesNotMatch(commandDescriptions.approve, /reason/);
  });
});

describe('the Web UI link of a run', () => {
  it('opens the User Metadata tab, where the phase and the next action are', () => {
    assert.equal(
      workflowRunUrl('http://127.0.0.1:8233', 'default', 'deploy-api', 'run/1'),
      'http://127.0.0.1:8233/namespaces/default/workflows/deploy-api/run%2F1/user-metadata',
    );
  });
});
