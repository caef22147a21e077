import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { serviceKey, versionKey } from '../../src/domain/search-attributes.ts';
import { browserSkipReason, listRowText, openBrowser, screenshot } from '../helpers/browser.ts';
import { testClient, uniqueTaskQueue } from '../helpers/temporal.ts';

describe('Temporal Web UI', () => {
  it('lists a running workflow by its id in a real browser', { skip: browserSkipReason }, async () => {
    const workflowId = `zerodown-webui-${randomUUID().slice(0, 8)}`;
    const { client, close } = await testClient();
    const browser = await openBrowser();
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
      const row = await listRowText(browser.page, workflowId, /Running/, 60_000);
      assert.match(row, new RegExp(workflowId), `${workflowId} is listed`);
      const file = await screenshot(browser.page, 'web-ui-probe.png');
      assert.ok(existsSync(file), `screenshot written to ${file}`);
      await handle.terminate('web UI test finished');
    } finally {
      await browser.close();
      await close();
    }
  });
});
