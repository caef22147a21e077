import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { projectRoot } from '../../src/paths.ts';

/**
 * Headless Chromium driving the real Temporal Web UI of the test run's dev server, the way an
 * operator clicks through it. Every wait is bounded.
 */

export const chromiumPath = '/usr/bin/chromium';
// Without the networking flags Chromium keeps trying hosts it cannot reach.
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

/** Why browser tests are skipped here, or false; in CI they always run. */
export const browserSkipReason =
  !existsSync(chromiumPath) && !process.env.CI
    ? `${chromiumPath} is not installed (apt-get install chromium, or run scripts/setup.sh); in CI this test always runs`
    : false;

/** The Web UI the harness started (`npm test` sets ZERODOWN_TEST_UI_URL). */
export function testUiUrl(): string {
  const url = process.env.ZERODOWN_TEST_UI_URL;
  if (!url) throw new Error('run with `npm test`: the harness starts the dev server and sets ZERODOWN_TEST_UI_URL');
  return url;
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

export async function openBrowser(): Promise<Browser> {
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'zerodown-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumFlags,
    viewport: { width: 1440, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  return {
    context,
    page,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** A run's page in the Web UI (tab: history, user-metadata, …). */
export const runPage = (workflowId: string, runId: string, tab = 'user-metadata') =>
  `${testUiUrl()}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}/${tab}`;

/** The main content's text, followed by that of the frames the UI renders user metadata's markdown in. */
export async function pageText(page: Page): Promise<string> {
  const main = await page
    .locator('main')
    .innerText()
    .catch(() => '');
  const frames = await Promise.all(
    page
      .frames()
      .filter((f) => f !== page.mainFrame())
      .map((f) =>
        f
          .locator('body')
          .innerText({ timeout: 1_000 })
          .catch(() => ''),
      ),
  );
  return [main, ...frames].join('\n');
}

/**
 * Loads `url` again until `pattern` is in the main content's text (the UI shows a run's current
 * details as they were when the page loaded); returns that text. The bound is generous: on a loaded
 * 2-core machine the page, the server and the worker answering the details' query all wait for a core,
 * and 30 s was once not enough in a full test run.
 */
export async function textWhen(page: Page, url: string, pattern: RegExp, timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  for (;;) {
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 15_000 });
    const settle = Date.now() + 5_000;
    while (Date.now() < settle) {
      text = await pageText(page);
      if (pattern.test(text)) return text;
      await page.waitForTimeout(250);
    }
    if (Date.now() > deadline)
      throw new Error(`${pattern} did not appear at ${url} within ${timeoutMs / 1000}s; the page said:\n${text}`);
  }
}

/** Opens More Actions → Send a Signal / Send an Update on a run's page; returns the dialog. */
async function openDialog(page: Page, kind: 'signal' | 'update') {
  await page.getByRole('button', { name: 'More Actions' }).click();
  await page
    .getByRole('menuitem', { name: kind === 'signal' ? 'Send a Signal' : 'Send an Update' })
    .first()
    .click();
  const dialog = page.locator('dialog[open]');
  await dialog.getByTestId(`${kind}-select-button`).click();
  return dialog;
}

/** The names and one-line descriptions the dialog offers, as "name\ndescription". */
export async function dialogOptions(page: Page, kind: 'signal' | 'update'): Promise<string[]> {
  const dialog = await openDialog(page, kind);
  // The names come from the workflow's metadata query, answered by the worker after the dialog opens.
  await dialog.getByRole('option').first().waitFor({ state: 'visible' });
  const options = await dialog.getByRole('option').allInnerTexts();
  await page.reload({ waitUntil: 'domcontentloaded' });
  return options.map((o) => o.trim());
}

/**
 * Sends `name` with `input` (typed as JSON into the dialog's editor) and returns what the dialog
 * shows afterwards: undefined when it closed (accepted), else its error text.
 */
export async function sendFromDialog(
  page: Page,
  kind: 'signal' | 'update',
  name: string,
  input: unknown,
): Promise<string | undefined> {
  const dialog = await openDialog(page, kind);
  await dialog.getByRole('option', { name: new RegExp(`^${name}\\b`) }).click();
  await dialog.locator('.cm-content').first().click();
  await page.keyboard.insertText(JSON.stringify(input));
  await dialog.getByTestId('confirm-modal-button').click();
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (!(await dialog.isVisible())) return undefined;
    const alert = dialog.getByRole('alert').first();
    if (await alert.isVisible()) return (await alert.innerText()).trim();
    await page.waitForTimeout(200);
  }
  throw new Error(`the ${kind} dialog neither closed nor showed an error within 15s`);
}

/** Screenshots shown in the README; only these are written to docs/ (when ZERODOWN_UPDATE_DOCS=1). */
const docsScreenshots = new Set(['web-ui-workflows.png', 'web-ui-waiting.png']);

/** Writes a screenshot to docs/ when ZERODOWN_UPDATE_DOCS=1 and it is a README one, else to the scratch folder. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const file =
    process.env.ZERODOWN_UPDATE_DOCS === '1' && docsScreenshots.has(name)
      ? path.join(projectRoot, 'docs', name)
      : path.join(process.env.ZERODOWN_TEST_SCRATCH ?? tmpdir(), name);
  mkdirSync(path.dirname(file), { recursive: true });
  await page.screenshot({ path: file });
  return file;
}

/** The Web UI's one-time column setting (README, "The Web UI"): adds zerodown's search attributes to the list. */
export async function configureColumns(
  page: Page,
  { add, remove }: { add: readonly string[]; remove: readonly string[] },
): Promise<void> {
  await page.goto(`${testUiUrl()}/namespaces/default/workflows`, { waitUntil: 'domcontentloaded' });
  await page.getByTestId('workflows-summary-table-configuration-button').click();
  for (const column of remove) await page.getByTestId(`orderable-list-item-${column}-remove-button`).click();
  for (const column of add) await page.getByTestId(`orderable-list-item-${column}-add-button`).click();
  await page.keyboard.press('Escape');
}

/** The workflow list filtered by a visibility query, with the saved-views panel folded away. */
export async function openList(page: Page, query: string, waitFor: string): Promise<void> {
  await page.goto(`${testUiUrl()}/namespaces/default/workflows?query=${encodeURIComponent(query)}`, {
    waitUntil: 'domcontentloaded',
  });
  await page.getByText(waitFor).first().waitFor({ state: 'visible' });
  const fold = page.getByRole('button', { name: 'Collapse saved views' });
  if (await fold.isVisible()) await fold.click();
}

/** The text of the workflow list's row of `workflowId`, filtered by id so other tests' runs cannot hide it. */
export async function listRowText(
  page: Page,
  workflowId: string,
  pattern: RegExp,
  timeoutMs = 30_000,
): Promise<string> {
  const url = `${testUiUrl()}/namespaces/default/workflows?query=${encodeURIComponent(`WorkflowId="${workflowId}"`)}`;
  const deadline = Date.now() + timeoutMs;
  let text = '';
  for (;;) {
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 15_000 });
    const row = page.getByRole('row').filter({ hasText: workflowId }).first();
    text = await row.innerText({ timeout: 5_000 }).catch(() => '');
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`the list row of ${workflowId} did not match ${pattern}: "${text}"`);
    await page.waitForTimeout(500);
  }
}
