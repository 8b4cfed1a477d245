// The WebGL renderer (issue 13, point 4), in a Chromium with a software
// GPU (SwiftShader): WebGL draws, and a lost context falls back to the DOM
// renderer with the session going on. The DOM-only case is in ux.spec.mjs.
import { test, expect } from '@playwright/test';
import { TERMINAL, run, signIn, waitForPrompt, waitForRow } from './helpers.mjs';

test.use({
  launchOptions: {
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  },
});

test.beforeEach(async ({ page }) => {
  await signIn(page, 'maintainer');
});


test('WebGL draws when there is WebGL2, and a lost context falls back to the DOM', async ({ page }) => {
  await page.goto(TERMINAL);
  expect(await page.evaluate(() => !!document.createElement('canvas').getContext('webgl2'))).toBe(true);
  // Canvas only: no DOM rows to read until the fallback.
  await expect(page.getByTestId('terminal')).toHaveAttribute('data-renderer', 'webgl');
  await expect(page.getByTestId('status')).toContainText('Connected');
  await page.evaluate(() => {
    const canvas = [...document.querySelectorAll('.xterm-screen canvas')].find((c) => c.getContext('webgl2'));
    canvas.getContext('webgl2').getExtension('WEBGL_lose_context').loseContext();
  });
  await expect(page.getByTestId('terminal')).toHaveAttribute('data-renderer', 'dom');
  await waitForPrompt(page);
  await run(page, 'echo drawn-$((4*4))');
  await waitForRow(page, (r) => r === 'drawn-16', 'output in the DOM renderer');
});
