// Durable sessions in the browser: a proxy in front of porthole drops every
// connection mid-command (as a network blip or a proxy restart does); the
// page says it is reconnecting, resumes the same shell by itself, and shows
// the output produced meanwhile exactly once.
import { test, expect } from '@playwright/test';
import { TERMINAL, rows, signIn, waitForPrompt, waitForRow } from './helpers.mjs';
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

async function run(page, command) {
  await page.locator('.xterm').click();
  await page.keyboard.type(command);
  await page.keyboard.press('Enter');
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
