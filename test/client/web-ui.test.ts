import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { serviceKey, versionKey } from '../../src/domain/search-attributes.ts';
import { projectRoot } from '../../src/paths.ts';
import { testClient, uniqueTaskQueue } from '../helpers/temporal.ts';

const chromiumPath = '/usr/bin/chromium';
// Without the networking flags Chromium keeps trying hosts it cannot reach, which this offline machine cannot.
const chromiumFlags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const skipReason =
  !existsSync(chromiumPath) && !process.env.CI
    ? `${chromiumPath} is not installed (apt-get install chromium, or run scripts/setup.sh); in CI this test always runs`
    : false;

/** Reloads the workflow list until `text` is on the page: the list does not refresh by itself. */
async function waitForText(page: Page, url: string, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 15_000 });
    try {
      await page.getByText(text).first().waitFor({ state: 'visible', timeout: 5_000 });
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`"${text}" did not appear at ${url} within ${timeoutMs / 1000}s`, { cause: error });
    }
  }
}

describe('Temporal Web UI', () => {
  it('lists a running workflow by its id in a real browser', { skip: skipReason }, async () => {
    const uiUrl = process.env.ZERODOWN_TEST_UI_URL;
    assert.ok(uiUrl, 'run with `npm test`: the harness starts the dev server and sets ZERODOWN_TEST_UI_URL');
    const workflowId = `zerodown-webui-${randomUUID().slice(0, 8)}`;
    const { client, close } = await testClient();
    const userDataDir = await mkdtemp(path.join(tmpdir(), 'zerodown-chromium-'));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumFlags,
      viewport: { width: 1440, height: 900 },
    });
    try {
      // No worker serves this queue, so the run stays Running and in the list.
      const handle = await client.workflow.start('webUiProbe', {
        taskQueue: uniqueTaskQueue('web-ui'),
        workflowId,
        typedSearchAttributes: [
          { key: serviceKey, value: 'api' },
          { key: versionKey, value: '1.4.2' },
        ],
        staticSummary: 'Web UI probe: a workflow started by the zerodown test suite',
      });
      const page = context.pages()[0] ?? (await context.newPage());
      // Filtered by id, so workflows that other tests start at the same time cannot push it off the first page.
      const url = `${uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(`WorkflowId="${workflowId}"`)}`;
      await waitForText(page, url, workflowId, 60_000);
      assert.ok(await page.getByText(workflowId).first().isVisible(), `${workflowId} is listed`);

      const scratch = process.env.ZERODOWN_TEST_SCRATCH ?? tmpdir();
      const screenshot =
        process.env.ZERODOWN_UPDATE_DOCS === '1'
          ? path.join(projectRoot, 'docs', 'web-ui-workflows.png')
          : path.join(scratch, 'web-ui-workflows.png');
      mkdirSync(path.dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot });
      assert.ok(existsSync(screenshot), `screenshot written to ${screenshot}`);
      await handle.terminate('web UI test finished');
    } finally {
      await context.close();
      await close();
      await rm(userDataDir, { recursive: true, force: true });
    }
  });
});
