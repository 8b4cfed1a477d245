// The environment terminal page, as a person uses it.
import { test, expect } from '@playwright/test';
import { TERMINAL, rows, run, signIn, waitForPrompt, waitForRow } from './helpers.mjs';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A relay's JWT for the app (HS256 over the data dir's workhorse secret). */
function relayJwt() {
  const secret = Buffer.from(readFileSync(join(process.env.PORTHOLE_E2E_DATA, 'workhorse_secret'), 'utf8').trim(), 'base64');
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iss: 'gitlab-workhorse', iat: Math.floor(Date.now() / 1000) })}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

test.beforeEach(async ({ page }) => {
  await signIn(page, 'maintainer');
});


async function termSize(page) {
  const el = page.getByTestId('terminal');
  return { cols: await el.getAttribute('data-cols'), rows: await el.getAttribute('data-rows') };
}

/** Runs `stty size` after a unique marker and returns "rows cols". */
async function sttySize(page) {
  const marker = `size-${Math.random().toString(36).slice(2, 8)}`;
  await run(page, `echo ${marker}: $(stty size)`);
  const row = await waitForRow(page, (r) => r.startsWith(`${marker}: `), marker);
  return row.slice(marker.length + 2).trim();
}

test('landing page links to the demo environment terminal', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'demo/shop' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Open terminal' })).toHaveAttribute('href', TERMINAL);
});

test('a shell in the pod: prompt, command, stty size, resize, exit status', async ({ page }) => {
  await page.goto(TERMINAL);
  await expect(page.getByTestId('status')).toHaveText('Connected to pod shop-web-7c9d5b8f4-q2x7z, container web');
  await waitForPrompt(page);

  await run(page, 'echo hello-$((6*7))');
  await waitForRow(page, (r) => r === 'hello-42', 'hello-42');

  const before = await termSize(page);
  expect(await sttySize(page)).toBe(`${before.rows} ${before.cols}`);

  await page.setViewportSize({ width: 760, height: 460 });
  await expect.poll(async () => (await termSize(page)).cols).not.toBe(before.cols);
  const after = await termSize(page);
  expect(await sttySize(page)).toBe(`${after.rows} ${after.cols}`);

  await page.screenshot({ path: 'artifacts/terminal.png' });

  await run(page, 'exit 3');
  await expect(page.getByTestId('status')).toContainText('exit status 3');
  await expect(page.getByTestId('status')).toHaveText(/^Ended: /);
});

test('reconnect opens one new session, with no second terminal', async ({ page }) => {
  await page.goto(TERMINAL);
  await waitForPrompt(page);
  await run(page, 'exit 0');
  await expect(page.getByTestId('status')).toContainText('exit status 0');

  await page.getByTestId('reconnect').click();
  await expect(page.getByTestId('status')).toHaveText(/^Connected to pod/);
  await waitForPrompt(page);
  await expect(page.locator('.xterm')).toHaveCount(1);
  // One keystroke listener: typed text appears once, not doubled.
  await run(page, 'echo once-$((1+1))');
  await waitForRow(page, (r) => r === 'once-2', 'once-2');
  const typed = (await rows(page)).filter((r) => r.includes('echo once-$((1+1))'));
  expect(typed).toHaveLength(1);
  expect(typed[0]).toMatch(/echo once-\$\(\(1\+1\)\)$/);
});

test('a new session while one runs asks first, and keeps the shell when declined', async ({ page }) => {
  await page.goto(TERMINAL);
  await waitForPrompt(page);
  await run(page, 'KEPT=yes-$((2*2))');
  const button = page.getByTestId('reconnect');
  await expect(button).toHaveText('New session');

  page.once('dialog', (dialog) => {
    expect(dialog.message()).toBe('End this session and start a new one?');
    dialog.dismiss();
  });
  await button.click();
  await run(page, 'echo still-$KEPT');
  await waitForRow(page, (r) => r === 'still-yes-4', 'the same shell');

  page.once('dialog', (dialog) => dialog.accept());
  await button.click();
  await expect(page.getByTestId('status')).toHaveText(/^Connected to pod/);
  await waitForPrompt(page);
  await run(page, 'echo fresh-${KEPT:-none}');
  await waitForRow(page, (r) => r === 'fresh-none', 'a new shell');
  await expect(page.locator('.xterm')).toHaveCount(1);
});

test('an unknown environment says so', async ({ page }) => {
  await page.goto('/demo/shop/-/environments/99/terminal');
  await expect(page.getByTestId('status')).toHaveText('environment not found');
});

test('the pod and container picker opens the chosen terminal', async ({ page }) => {
  await page.goto(TERMINAL);
  const picker = page.getByTestId('terminal-picker');
  await expect(picker.locator('option')).toHaveCount(4);
  await expect(picker.locator('option').first()).toHaveText(/^shop-web-7c9d5b8f4-q2x7z \/ web \(\d+[smhd]\)$/);
  await picker.selectOption('shop-web-7c9d5b8f4-m8k3p/worker');
  await expect(page.getByTestId('status')).toHaveText('Connected to pod shop-web-7c9d5b8f4-m8k3p, container worker');
  await expect(page).toHaveURL(/\?pod=shop-web-7c9d5b8f4-m8k3p&container=worker$/);
  await waitForPrompt(page);
  await run(page, 'echo on-$PORTHOLE_CONTAINER');
  await waitForRow(page, (r) => r === 'on-worker', 'on-worker');
});

test('a pod that is not a terminal of the environment is named on the page', async ({ page }) => {
  await page.goto(`${TERMINAL}?pod=gone-7f9c&container=web`);
  await expect(page.getByTestId('status')).toHaveText(
    'Pod gone-7f9c, container web is not a terminal of this environment (anymore): pick another');
});

test('a CI job terminal: run the demo job, open its terminal, run a command; no runner secret reaches the browser', async ({ page }) => {
  const seen = [];
  page.on('response', async (r) => { try { seen.push(r.url(), await r.text()); } catch { /* bodies of redirects */ } });
  page.on('websocket', (ws) => {
    seen.push(ws.url());
    ws.on('framereceived', (f) => seen.push(String(f.payload)));
    ws.on('framesent', (f) => seen.push(String(f.payload)));
  });
  await page.goto('/');
  await page.getByTestId('run-demo-job').first().click();
  await expect(page).toHaveURL(/\/demo\/shop\/-\/jobs\/\d+$/);
  const jobId = page.url().match(/jobs\/(\d+)$/)[1];
  await page.getByTestId('job-terminal-link').click();
  await expect(page.getByTestId('status')).toHaveText('Connected');
  await waitForPrompt(page);
  await run(page, 'echo job-$CI_JOB_ID-ok');
  await waitForRow(page, (r) => r === `job-${jobId}-ok`, `job-${jobId}-ok`);

  // What the relay gets from the app: the runner's session URL and token.
  const answer = await page.request.get(`/demo/shop/-/jobs/${jobId}/terminal.ws/authorize`, {
    headers: { 'Gitlab-Workhorse-Api-Request': relayJwt() },
  });
  expect(answer.status()).toBe(200);
  const channel = (await answer.json()).Channel;
  const sessionId = channel.Url.match(/\/session\/([a-z0-9]{32})\/exec$/)[1];
  const token = channel.Header.Authorization[0];
  expect(token).toHaveLength(32);
  expect(seen.length).toBeGreaterThan(5);
  for (const text of seen) {
    expect(text).not.toContain(sessionId);
    expect(text).not.toContain(token);
  }
});

test('signing in and out with a demo user', async ({ page }) => {
  await page.context().clearCookies();
  await page.goto('/');
  await expect(page.getByTestId('landing-refused')).toContainText('You need to sign in before continuing.');
  await page.getByTestId('current-user').getByRole('link', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/users\/sign_in$/);
  await page.getByLabel('Username').fill('maintainer');
  await page.getByLabel('Password').fill('wrong');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('sign-in-error')).toHaveText('Invalid username or password.');
  await page.getByLabel('Username').fill('maintainer');
  await page.getByLabel('Password').fill('e2e-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('current-user')).toContainText('Signed in as maintainer');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByTestId('current-user').getByRole('link', { name: 'Sign in' })).toBeVisible();
});

test('a developer is told the terminal needs the Maintainer role', async ({ page }) => {
  await page.context().clearCookies();
  await signIn(page, 'developer');
  await page.goto(TERMINAL);
  await expect(page.getByTestId('status')).toHaveText(
    'You need the Maintainer role on demo/shop to open this terminal');
  // Only the words: no terminal, no pod picker, no Reconnect.
  await expect(page.locator('.xterm')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Reconnect' })).toHaveCount(0);
});

// Last: it deletes a pod.
test('a deleted pod ends the session with pod terminated', async ({ page }) => {
  await page.goto(`${TERMINAL}?pod=shop-web-7c9d5b8f4-m8k3p&container=web`);
  await expect(page.getByTestId('status')).toHaveText('Connected to pod shop-web-7c9d5b8f4-m8k3p, container web');
  await waitForPrompt(page);
  execFileSync('kubectl', ['delete', 'pod', 'shop-web-7c9d5b8f4-m8k3p', '--wait=false'], {
    env: { ...process.env, KUBECONFIG: process.env.PORTHOLE_E2E_KUBECONFIG },
  });
  await expect(page.getByTestId('status')).toHaveText('Ended: pod terminated', { timeout: 10_000 });
});
