import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  REPO_ROOT,
  requireChromium,
  requireDocker,
  runCli,
  startApp,
  startCluster,
  stopApp,
  tempDir,
  TEST_IMAGE,
  type LocalCluster,
  type TempDir,
} from '@cloudai/testing';
import { readZip } from './stored-zip.js';

// The web console in a real browser (Debian's Chromium, headless, through
// playwright-core) against a real cluster and the real web app, the way a
// user meets it. The screenshots it saves are the README's.

const chromiumPath = requireChromium('the web console browser tests');
// Into docs/screenshots with CLOUDAI_SCREENSHOTS=1 (`pnpm screenshots`), so a
// routine run does not rewrite the committed images; a scratch folder otherwise.
const SCREENSHOTS = process.env.CLOUDAI_SCREENSHOTS === '1' ? join(REPO_ROOT, 'docs', 'screenshots') : join(tmpdir(), 'cloudai-screenshots');
/** What the task's index.html would fetch if its script ever ran. */
const MARKER = '/marker-script-ran';

// The task the form submits: log lines a second apart (so they can be seen
// arriving while it runs), a stderr line, and outputs to preview, among
// them an HTML page with a script that must never run.
const SCRIPT = [
  'for i in 1 2 3 4 5 6; do echo "line $i of the log"; sleep 1; done',
  'echo "a warning on stderr" >&2',
  'mkdir -p /output/data',
  'echo \'{"accuracy":0.93,"labels":["cat","dog"]}\' > /output/metrics.json',
  'printf "epoch,loss\\n1,0.5\\n2,0.25\\n" > /output/data/loss.csv',
  `printf '<h1>report</h1><script>window.__scriptRan = true; fetch("${MARKER}")</script>' > /output/index.html`,
  'echo finished',
].join('; ');

describe.skipIf(!chromiumPath)('the web console in a browser', () => {
  let cluster: LocalCluster;
  let web: Awaited<ReturnType<typeof startApp>>;
  let url: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let downloads: TempDir;
  const requests: string[] = [];
  const cspViolations: string[] = [];
  let taskId: string;

  beforeAll(async () => {
    await requireDocker();
    downloads = await tempDir('cloudai-web-downloads-');
    cluster = await startCluster({ workers: 1, workerEnv: () => ({ WORKER_CPU: '4', WORKER_MEMORY_GB: '4' }) });
    // apps/web is an app like the others: built to apps/web/dist/main.js and configured by env.
    web = await startApp('web', 'web', { CLOUDAI_MASTER: cluster.masterAddr, WEB_LISTEN_ADDR: '127.0.0.1:0' });
    url = `http://${String(web.readyLine.address)}`;
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox'] });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    if (web) await stopApp(web);
    await cluster?.stop();
    await downloads?.remove();
  });

  const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

  it('signs in with a pasted token, using the keyboard alone', async () => {
    await page.goto(`${url}/tasks`);
    await page.getByRole('heading', { name: 'Sign in to cloudai' }).waitFor();
    await shot('sign-in');
    await page.keyboard.press('Tab');
    await expect.poll(() => page.evaluate('document.activeElement?.id')).toBe('token');
    await page.keyboard.type(cluster.userToken);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Tasks', exact: true }).waitFor();
    await page.getByText('e2e', { exact: true }).first().waitFor();
    expect(await page.getByTestId('user-role').textContent()).toBe('user');
  });

  it('refuses a bad submission at its field, with the same rule as the CLI', async () => {
    await page.getByRole('link', { name: 'Submit', exact: true }).click();
    await page.getByLabel('Image').fill('Not An Image!');
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    const error = page.locator('[data-field="image"]');
    await error.waitFor();
    expect(await error.textContent()).toContain('image must be a Docker image reference');
    expect(await page.getByLabel('Image').getAttribute('aria-invalid')).toBe('true');
  });

  it('submits a task from the form and shows its log live until it succeeds', async () => {
    await page.getByLabel('Image').fill(TEST_IMAGE);
    await page.getByLabel('Command').fill(['sh', '-c', SCRIPT].join('\n'));
    await page.getByLabel('Name').fill('web-e2e');
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    await page.waitForURL(/\/tasks\/[^/]+$/);
    taskId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);

    // The first lines show while the task still runs: they came over the follow stream.
    await page.locator('.log-line', { hasText: 'line 2 of the log' }).waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('task-status').textContent()).toBe('RUNNING');
    expect(await page.getByTestId('log-status').textContent()).toContain('Following the log live');

    await page.getByTestId('task-status').getByText('SUCCEEDED').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('task-exit').textContent()).toBe('0');
    for (let i = 1; i <= 6; i++) await page.locator('.log-line', { hasText: `line ${i} of the log` }).waitFor();
    const stderr = page.locator('.log-line', { hasText: 'a warning on stderr' });
    expect(await stderr.getAttribute('data-stream')).toBe('stderr');
    expect(await page.locator('.log-line[data-stream="stdout"]', { hasText: 'finished' }).count()).toBe(1);
  });

  it('searches the log on the server and jumps to the match', async () => {
    await page.getByLabel('Search the log').fill('line 4 of');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await expect.poll(() => page.getByTestId('log-status').textContent()).toContain('Match 1 of 1 for "line 4 of" (line 4)');
    expect(new URL(page.url()).hash).toBe('#L4');
    expect(await page.locator('.log-target .log-text').textContent()).toBe('line 4 of the log');
    await shot('task');
  });

  it('previews a JSON output, pretty-printed', async () => {
    await page.getByRole('button', { name: 'Preview metrics.json' }).click();
    const pre = page.getByTestId('preview').locator('pre');
    await pre.waitFor();
    expect(await pre.textContent()).toBe(JSON.stringify({ accuracy: 0.93, labels: ['cat', 'dog'] }, null, 2));
  });

  it('previews an index.html with a script as inert text: the script never runs', async () => {
    await page.getByRole('button', { name: 'Preview index.html' }).click();
    const pre = page.getByTestId('preview').locator('pre');
    await expect.poll(() => pre.textContent()).toContain('<script>window.__scriptRan = true');
    // Were it rendered as HTML (or its script injected), the page would have the global and the marker request.
    await page.waitForTimeout(500);
    expect(await page.evaluate('window.__scriptRan')).toBeUndefined();
    expect(requests.filter((r) => r.includes(MARKER))).toEqual([]);
    expect(await page.locator('[data-testid="preview"] h1', { hasText: 'report' }).count()).toBe(0);
  });

  it('downloads all outputs as a zip whose entries match the stored sha256s', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download all (zip)' }).click()]);
    const path = join(downloads.path, 'outputs.zip');
    await download.saveAs(path);
    const entries = readZip(await readFile(path));
    const status = JSON.parse((await cluster.cli(['status', taskId, '--json'])).stdout) as { outputFiles: { path: string; size: number; sha256: string }[] };
    expect(entries.map((e) => e.name).sort()).toEqual(status.outputFiles.map((f) => f.path).sort());
    for (const file of status.outputFiles) {
      const entry = entries.find((e) => e.name === file.path)!;
      expect(entry.data.length, file.path).toBe(file.size);
      expect(createHash('sha256').update(entry.data).digest('hex'), file.path).toBe(file.sha256);
      expect(entry.crc32, file.path).toBe(crc32(entry.data));
    }
    expect(entries.find((e) => e.name === 'metrics.json')?.data.toString()).toBe('{"accuracy":0.93,"labels":["cat","dog"]}\n');
  });

  it('lists every run of a task name with its files', async () => {
    await page.getByRole('link', { name: 'All runs named web-e2e' }).click();
    await page.getByRole('heading', { name: 'Outputs by task name' }).waitFor();
    await page.locator('.tree-file[data-path="data/loss.csv"]').waitFor();
    await page.getByRole('button', { name: 'Preview data/loss.csv' }).click();
    const table = page.getByTestId('preview').locator('table');
    await table.waitFor();
    expect(await table.locator('th').allTextContents()).toEqual(['epoch', 'loss']);
    expect(await table.locator('tbody tr').count()).toBe(2);
    await shot('outputs');
  });

  it('shows a task submitted from the CLI without a reload, and cancels it from the table', async () => {
    await page.getByRole('link', { name: 'Tasks', exact: true }).click();
    await page.locator(`tr[data-task-id="${taskId}"]`).waitFor();
    const submitted = await cluster.cli(['task', TEST_IMAGE, '--name', 'web-long', '--json', '--', 'sleep', '300']);
    const longId = (JSON.parse(submitted.stdout) as { taskId: string }).taskId;
    const row = page.locator(`tr[data-task-id="${longId}"]`);
    await row.getByText('RUNNING').waitFor({ timeout: 60_000 });
    await shot('tasks');
    await row.getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Cancel selected (1)' }).click();
    await row.getByText('CANCELLED').waitFor();
    const status = JSON.parse((await cluster.cli(['status', longId, '--json'])).stdout) as { status: string };
    expect(status.status).toBe('CANCELLED');
  });

  it('keeps the filters in the URL', async () => {
    await page.getByRole('checkbox', { name: 'SUCCEEDED' }).check();
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(/status=SUCCEEDED/);
    await page.locator(`tr[data-task-id="${taskId}"]`).waitFor();
    await expect.poll(() => page.locator('tbody tr').count()).toBe(1);
    // The same URL in a new tab gives the same view.
    const second = await context.newPage();
    await second.goto(page.url());
    await second.locator(`tr[data-task-id="${taskId}"]`).waitFor();
    expect(await second.locator('tbody tr').count()).toBe(1);
    await second.close();
  });

  it('sorts by a column on the server, the order kept in the URL', async () => {
    await page.goto(`${url}/tasks`);
    await page.locator(`tr[data-task-id="${taskId}"]`).waitFor();
    const names = () => page.locator('tbody tr th').allInnerTexts();
    expect(new Set(await names()).size).toBeGreaterThan(1);
    await page.getByRole('columnheader', { name: 'Name' }).getByRole('button').click();
    await page.waitForURL(/sort=task_name/);
    await expect.poll(names).toEqual([...(await names())].sort());
    expect(await page.getByRole('columnheader', { name: 'Name' }).getAttribute('aria-sort')).toBe('ascending');
    await page.getByRole('columnheader', { name: 'Name' }).getByRole('button').click();
    await page.waitForURL(/sort=-task_name/);
    await expect.poll(async () => (await names()).join()).toBe([...(await names())].sort().reverse().join());
    // The API's own order is the table's: not a sort of the rows in the page.
    const listed = await fetch(`${url}/api/v1/tasks?sort=-task_name`, { headers: { authorization: `Bearer ${cluster.userToken}` } });
    expect(((await listed.json()) as { tasks: { taskName: string }[] }).tasks.map((t) => t.taskName)).toEqual(await names());
    await page.getByRole('columnheader', { name: 'Status' }).getByRole('button').click();
    await page.waitForURL(/sort=status/);
    const statuses = () => page.locator('tbody tr .chip').allInnerTexts();
    await expect.poll(async () => (await statuses()).join()).toBe([...(await statuses())].sort().join());
  });

  it("answers another user's task URL with not found", async () => {
    const added = await runCli(['--master', cluster.masterAddr, 'users', 'add', 'other', '--json'], { CLOUDAI_TOKEN: cluster.adminToken });
    const otherToken = (JSON.parse(added.stdout) as { token: string }).token;
    const theirs = await cluster.cli(['task', TEST_IMAGE, '--name', 'not-yours', '--json', '--', 'true'], { CLOUDAI_TOKEN: otherToken });
    const theirId = (JSON.parse(theirs.stdout) as { taskId: string }).taskId;
    await page.goto(`${url}/tasks/${theirId}`);
    await page.getByRole('heading', { name: 'Task not found' }).waitFor();
    expect(await page.locator('body').textContent()).not.toContain('not-yours');
  });

  it('shows the workers with capacity against allocation', async () => {
    await page.getByRole('link', { name: 'Workers', exact: true }).click();
    const row = page.getByRole('row', { name: new RegExp(cluster.workerId(1)) });
    await row.waitFor();
    await row.getByText('ALIVE').waitFor();
    expect(await row.locator('meter').first().getAttribute('max')).toBe('4');
    await shot('workers');
  });

  it('fits a phone-width screen without sideways scrolling of the page', async () => {
    await page.setViewportSize({ width: 390, height: 800 });
    await page.goto(`${url}/tasks/${taskId}`);
    await page.getByTestId('task-status').getByText('SUCCEEDED').waitFor();
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("deletes a finished task's files after asking twice", async () => {
    await page.goto(`${url}/tasks/${taskId}`);
    await page.getByRole('button', { name: 'Delete files…' }).click();
    await page.getByRole('button', { name: 'Keep them' }).click();
    expect(JSON.parse((await cluster.cli(['files', taskId, '--json'])).stdout)).toHaveLength(3);
    await page.getByRole('button', { name: 'Delete files…' }).click();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByText('No output files.').waitFor();
    expect(JSON.parse((await cluster.cli(['files', taskId, '--json'])).stdout)).toEqual([]);
  });

  it('signs out from the user menu, and ran with no CSP violation', async () => {
    await page.locator('.user-menu summary').click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to cloudai' }).waitFor();
    await page.goto(`${url}/tasks`);
    await page.getByRole('heading', { name: 'Sign in to cloudai' }).waitFor();
    expect(cspViolations).toEqual([]);
  });
});
