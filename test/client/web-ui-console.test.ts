import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { anonymousOperator, commandDescription, operatorCommands } from '../../src/domain/deployment-views.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import {
  configureColumns,
  browserSkipReason,
  dialogOptions,
  listRowText,
  openList,
  openBrowser,
  runPage,
  screenshot,
  sendFromDialog,
  textWhen,
} from '../helpers/browser.ts';
import { createDeploymentHarness, type DeploymentHarness, waitForStatus } from '../helpers/deployment.ts';
import { withWorker } from '../helpers/temporal.ts';

/*
 * The Temporal Web UI as an operator's console, driven in headless Chromium against the real dev
 * server, a real worker and the local fleet (HAProxy + instances).
 */

const fleetOptions = { instances: 3, upVersion: '1.0.0', versions: { '1.0.0': undefined, '2.0.0': undefined } };
const commandNames = Object.keys(operatorCommands) as (keyof typeof operatorCommands)[];

/** A fleet, a browser and a worker for one test, all stopped when it ends. */
async function withConsole(
  t: TestContext,
  name: string,
  body: (h: DeploymentHarness, page: Page) => Promise<void>,
): Promise<void> {
  const h = await createDeploymentHarness(name, fleetOptions);
  const browser = await openBrowser();
  t.after(async () => {
    await browser.close();
    await h.cleanup();
  });
  await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, () => body(h, browser.page));
}

/**
 * A deployment held mid-way by a long bake (a rollback or an abort ends it early), with its run's
 * page open and showing it deploying.
 */
async function bakingDeployment(h: DeploymentHarness, page: Page) {
  const handle = await h.deploy({ version: '2.0.0', bakeSeconds: 120 });
  await waitForStatus(handle, (s) => s.instances.some((i) => i.state === 'baking'));
  const url = runPage(handle.workflowId, handle.firstExecutionRunId);
  await textWhen(page, url, /DEPLOYING/);
  return { handle, url };
}

describe('the Web UI as an operator console', { skip: browserSkipReason, concurrency: 1 }, () => {
  it('shows a waiting deployment at a glance, refuses a resume with its reason, and an approve from the Update dialog lets it succeed', async (t) => {
    await withConsole(t, 'uiapprove', async (h, page) => {
      const handle = await h.deploy({ version: '2.0.0', requireApproval: true });
      await waitForStatus(handle, (s) => s.phase === 'awaiting-approval');
      const url = runPage(handle.workflowId, handle.firstExecutionRunId);

      const text = await textWhen(page, url, /WAITING FOR APPROVAL/);
      assert.match(text, new RegExp(`WAITING FOR APPROVAL · ${h.service} 1\\.0\\.0 → 2\\.0\\.0`));
      assert.match(text, new RegExp(`run zerodown approve ${h.service}`), 'the next action, CLI form');
      assert.match(text, /send the approve signal or update with \{"by": "your name"\}/, 'the next action, UI form');
      assert.match(text, new RegExp(`Deploy ${h.service} 2\\.0\\.0 to 3 instances, 1 at a time, after approval`));
      await screenshot(page, 'web-ui-waiting.png');

      for (const kind of ['signal', 'update'] as const) {
        const options = await dialogOptions(page, kind);
        for (const name of commandNames)
          assert.ok(
            options.includes(`${name}\n${commandDescription(name)}`),
            `the ${kind} dialog offers ${name} with its description; it offers ${JSON.stringify(options)}`,
          );
      }

      const refusal = await sendFromDialog(page, 'update', 'resume', { by: 'ui-tester' });
      assert.match(refusal ?? 'accepted', /is awaiting-approval, not paused/, 'the refused Update shows its reason');
      assert.equal((await handle.query(statusQuery)).phase, 'awaiting-approval', 'the refused Update changed nothing');

      await page.goto(url, { waitUntil: 'domcontentloaded' });
      assert.equal(await sendFromDialog(page, 'update', 'approve', { by: 'alice-in-the-ui' }), undefined);
      const result = await handle.result();
      assert.equal(result.phase, 'succeeded');
      assert.deepEqual(await h.fleet.runningVersions(), ['2.0.0', '2.0.0', '2.0.0']);
      const status = await handle.query(statusQuery);
      assert.equal(status.approvedBy, 'alice-in-the-ui', 'the approver is the identity the UI sent');

      const done = await textWhen(page, url, /SUCCEEDED/);
      assert.match(done, new RegExp(`SUCCEEDED · ${h.service} 1\\.0\\.0 → 2\\.0\\.0`));
    });
  });

  it('a rollback sent from the Signal dialog rolls a running deployment back; its page and the list say so', async (t) => {
    await withConsole(t, 'uirollback', async (h, page) => {
      const { handle, url } = await bakingDeployment(h, page);

      // No "by": the handler cannot see who clicked, so the log says it came from the UI without one.
      assert.equal(await sendFromDialog(page, 'signal', 'rollback', { reason: 'errors on the dashboard' }), undefined);
      const signalled = await waitForStatus(
        handle,
        (s) => Boolean(s.rollback) || s.events.some((e) => e.kind === 'ignored-command'),
      );
      assert.ok(signalled.rollback, `the rollback was taken: ${JSON.stringify(signalled.events.slice(-3))}`);
      const result = await handle.result();
      assert.equal(result.phase, 'rolled-back');
      assert.equal(result.reason, 'errors on the dashboard');
      assert.deepEqual(await h.fleet.runningVersions(), ['1.0.0', '1.0.0', '1.0.0']);
      const log = (await handle.query(statusQuery)).events.map((e) => e.message);
      assert.ok(
        log.includes(`rollback requested by ${anonymousOperator}: errors on the dashboard`),
        `the log names the UI as the sender: ${JSON.stringify(log)}`,
      );

      const text = await textWhen(page, url, /ROLLED BACK/);
      assert.match(text, /^Completed/m, 'Temporal itself says Completed…');
      assert.match(text, /ROLLED BACK ·/, '…and the details say plainly that it was rolled back');
      assert.match(text, /2\.0\.0 was not deployed: errors on the dashboard/);

      // The one-time setting the README describes: zerodown's search attributes as list columns.
      await configureColumns(page, {
        add: ['ZerodownService', 'ZerodownVersion', 'ZerodownPhase'],
        remove: ['Run ID', 'Type', 'Start'],
      });
      const row = await listRowText(page, handle.workflowId, /rolled-back/);
      assert.match(row, new RegExp(`${h.service}[\\s\\S]*2\\.0\\.0[\\s\\S]*rolled-back`), 'service, version and phase');
      await page.setViewportSize({ width: 1440, height: 600 });
      await openList(page, `WorkflowType = 'rollingDeployment'`, handle.workflowId);
      await screenshot(page, 'web-ui-workflows.png');
    });
  });

  it('Request Cancellation aborts the deployment and restores the changed instances', async (t) => {
    await withConsole(t, 'uicancel', async (h, page) => {
      const { handle, url } = await bakingDeployment(h, page);
      assert.deepEqual(await h.fleet.runningVersions(), ['2.0.0', '1.0.0', '1.0.0'], 'one instance changed');

      await page.getByRole('button', { name: 'Request Cancellation' }).click();
      await page.locator('dialog[open]').getByTestId('confirm-modal-button').click();
      const result = await handle.result();
      assert.equal(result.phase, 'aborted');
      assert.equal(result.reason, 'the workflow was cancelled');
      assert.deepEqual(
        await h.fleet.runningVersions(),
        ['1.0.0', '1.0.0', '1.0.0'],
        'the changed instance is restored',
      );
      const text = await textWhen(page, url, /ABORTED/);
      assert.match(text, /2\.0\.0 was not deployed: the workflow was cancelled/);
      // The cancelled run still archives its deployment log (what `zerodown logs` prints).
      const archived = await readFile(
        path.join(h.fleet.fleet.paths.stateDir, 'deployment-log', `${h.service}.jsonl`),
        'utf8',
      );
      assert.match(archived, /the workflow was cancelled/);
    });
  });
});
