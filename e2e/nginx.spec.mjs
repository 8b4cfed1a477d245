// The terminal page behind Debian's nginx: with the configuration the
// README shows (deploy/nginx/porthole.conf) it works; behind a proxy that
// drops the Upgrade headers the relay answers 400 and the page says
// "Connection failed", as GitLab's docs describe.
import { test, expect } from '@playwright/test';
import { TERMINAL, signIn, waitForPrompt, waitForRow } from './helpers.mjs';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

/** A free port on 127.0.0.1 (the kernel's pick, released for nginx). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Resolves once something listens on `port`, within 10 s. */
async function listening(port) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let nginx;
let shipped;
let stripped;

test.beforeAll(async ({ baseURL }) => {
  const dir = mkdtempSync(join(tmpdir(), 'porthole-nginx-'));
  [shipped, stripped] = [await freePort(), await freePort()];
  const upstream = new URL(baseURL).host;
  const locations = readFileSync(new URL('../deploy/nginx/porthole.conf', import.meta.url), 'utf8');
  writeFileSync(join(dir, 'nginx.conf'), `master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream porthole { server ${upstream}; }
  server { listen 127.0.0.1:${shipped}; ${locations} }
  server { listen 127.0.0.1:${stripped}; location / { proxy_pass http://porthole; proxy_set_header Host $http_host; } }
}
`);
  const binary = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(existsSync);
  nginx = spawn(binary, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'inherit' });
  await listening(shipped);
  await listening(stripped);
});

test.afterAll(() => nginx?.kill());

test('through the README nginx configuration the terminal works', async ({ page }) => {
  // Cookies do not depend on the port: signing in once serves both.
  await signIn(page, 'maintainer');
  await page.goto(`http://127.0.0.1:${shipped}${TERMINAL}`);
  await waitForPrompt(page);
  await page.locator('.xterm').click();
  await page.keyboard.type('echo via-nginx-$((6*7))');
  await page.keyboard.press('Enter');
  await waitForRow(page, (r) => r === 'via-nginx-42', 'the echo through nginx');
});

test('behind a proxy that drops Upgrade the page says Connection failed', async ({ page }) => {
  await signIn(page, 'maintainer');
  const refused = page.waitForEvent('websocket');
  await page.goto(`http://127.0.0.1:${stripped}${TERMINAL}`);
  await refused;
  await expect(page.getByTestId('status')).toHaveText('Connection failed');
  // Because Porthole answered 400 to the upgrade nginx made a plain GET.
  const handshake = await page.request.get(`http://127.0.0.1:${stripped}${TERMINAL}.ws`, {
    headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
  });
  expect(handshake.status()).toBe(400);
  expect(await handshake.text()).toContain('needs a WebSocket upgrade');
});
