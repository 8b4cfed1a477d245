// Durable sessions in the browser: a proxy in front of porthole drops every
// connection mid-command (as a network blip or a proxy restart does); the
// page says it is reconnecting, resumes the same shell by itself, and shows
// the output produced meanwhile exactly once.
import { test, expect } from '@playwright/test';
import { TERMINAL, rows, run, signIn, waitForPrompt, waitForRow } from './helpers.mjs';
import net from 'node:net';

/** A TCP proxy to porthole on 127.0.0.1 that can cut every connection. */
async function startProxy(targetPort) {
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    /** Resets every open connection; new ones are still accepted. */
    cut() {
      for (const s of [...sockets]) s.resetAndDestroy();
    },
    server,
  };
}

test('a dropped connection resumes the same shell without losing or repeating output', async ({ page, baseURL }) => {
  await signIn(page, 'maintainer');
  const proxy = await startProxy(Number(new URL(baseURL).port));
  try {
    // Cookies are per host, not per port: the session carries over.
    await page.goto(`http://127.0.0.1:${proxy.port}${TERMINAL}`);
    await waitForPrompt(page);
    const status = page.getByTestId('status');
    await expect(status).toHaveText(/^Connected to pod /);
    await run(page, 'N=7; sleep 1.5; echo during-$((N*2))');
    // Cut while the command runs: its output comes while the page is away.
    await waitForRow(page, (r) => r.endsWith('echo during-$((N*2))'), 'the command echoed');
    proxy.cut();
    await expect(status).toHaveText(/^Reconnecting… \(\d+\)$/);
    await expect(status).toHaveText(/^Connected to pod /);
    await waitForRow(page, (r) => r === 'during-14', 'the output made while disconnected');
    // The same shell (its variable is still set), and nothing shown twice.
    await run(page, 'echo same-shell-$N');
    await waitForRow(page, (r) => r === 'same-shell-7', 'the same shell');
    const shown = await rows(page);
    expect(shown.filter((r) => r === 'during-14')).toHaveLength(1);
    expect(shown.filter((r) => r.includes('Ended'))).toHaveLength(0);
  } finally {
    proxy.cut();
    await new Promise((resolve) => proxy.server.close(resolve));
  }
});

test('a recorded session replays from the audit log', async ({ page }) => {
  await signIn(page, 'maintainer');
  await page.goto(TERMINAL);
  await waitForPrompt(page);
  const marker = `replay-${Math.random().toString(36).slice(2, 8)}`;
  await run(page, `sleep 0.5; echo ${marker}-$((6*7)); exit 0`);
  await expect(page.getByTestId('status')).toHaveText(/^Ended: /);

  await page.context().clearCookies();
  await signIn(page, 'root');
  await page.goto('/admin');
  // The newest session first; its end is reported in the background.
  const replay = page.getByTestId('audit-row').first().getByTestId('replay-link');
  await expect.poll(async () => {
    await page.reload();
    // Counted once the audit log has loaded, not before.
    await page.getByTestId('audit-row').first().waitFor();
    return replay.count();
  }, { message: 'a replay link on the newest session' }).toBe(1);
  await replay.click();
  await expect(page.getByTestId('replay-title')).toHaveText(/^demo\/shop · environment production · pod /);
  await page.getByTestId('replay-speed').selectOption('8');
  await waitForRow(page, (r) => r === `${marker}-42`, 'the recorded output');
  await waitForRow(page, (r) => r.includes('[the process exited with exit status 0]'), 'the end marker');
  await expect(page.getByTestId('replay-play')).toHaveText('Play');
  // Seeking back to the start clears what was shown.
  await page.getByTestId('replay-seek').fill('0');
  await expect.poll(async () => (await rows(page)).some((r) => r === `${marker}-42`)).toBe(false);
});

test('a shared read-only link lets another user watch, and only watch', async ({ page, browser, baseURL }) => {
  await signIn(page, 'maintainer');
  await page.goto(TERMINAL);
  await waitForPrompt(page);
  await run(page, 'echo shared-$((5*5))');
  await waitForRow(page, (r) => r === 'shared-25', 'the owner output');
  await page.getByTestId('share').click();
  const link = await page.getByTestId('share-link').inputValue();
  expect(link).toMatch(/\?view=[A-Za-z0-9]+/);

  const context = await browser.newContext({ baseURL });
  const viewer = await context.newPage();
  try {
    await signIn(viewer, 'root');
    await viewer.goto(link);
    await expect(viewer.getByTestId('status')).toHaveText("Viewing maintainer's session, read-only");
    await waitForRow(viewer, (r) => r === 'shared-25', 'the output from before the viewer came');
    await expect(page.getByTestId('status')).toHaveText(/ · 1 watching$/);
    await run(page, 'echo live-$((6*6))');
    await waitForRow(viewer, (r) => r === 'live-36', 'live output');
    // The viewer's keys go nowhere.
    await viewer.locator('.xterm').click();
    await viewer.keyboard.type('echo typed-by-viewer');
    await viewer.keyboard.press('Enter');
    await run(page, 'echo check-$((7*7))');
    await waitForRow(page, (r) => r === 'check-49', 'the owner output after the viewer typed');
    expect((await rows(page)).some((r) => r.includes('typed-by-viewer'))).toBe(false);
  } finally {
    await context.close();
  }
});
