// What the terminal page says, at a desktop, a small laptop and a phone
// width: the project and environment by name, the status line whole, the
// pod picker in view, the time connected; a refused page says whom to ask.
import { test, expect } from '@playwright/test';
import { TERMINAL, signIn, waitForPrompt, waitForRow } from './helpers.mjs';

const VIEWPORTS = [
  { width: 1400, height: 900 },
  { width: 800, height: 600 },
  { width: 390, height: 844 },
];

/** True when the element shows all of its text (no ellipsis). */
async function whole(locator) {
  return locator.evaluate((el) => el.scrollWidth <= el.clientWidth);
}

for (const viewport of VIEWPORTS) {
  const size = `${viewport.width}x${viewport.height}`;

  test(`the terminal page at ${size} names what it opened and shows it whole`, async ({ page }) => {
    await page.setViewportSize(viewport);
    await signIn(page, 'maintainer');
    await page.goto(TERMINAL);
    await expect(page.getByTestId('terminal-title')).toHaveText('demo/shop · production · terminal');
    const status = page.getByTestId('status');
    await expect(status).toHaveText('Connected to pod shop-web-7c9d5b8f4-q2x7z, container web');
    await waitForPrompt(page);
    if (process.getuid?.() === 0 && viewport.width >= 800) {
      // As root the pod has its own hostname and home: a pod's prompt,
      // not the host's name and Porthole's data dir.
      await waitForRow(page, (r) => /@shop-web-7c9d5b8f4-q2x7z:~[$#]$/.test(r), "the pod's prompt");
    }
    expect(await whole(status), 'the status line is not cut off').toBe(true);
    const picker = page.locator('.status-bar select');
    const box = await picker.boundingBox();
    expect(box.x >= 0 && box.x + box.width <= viewport.width, `the pod picker is in view: ${JSON.stringify(box)}`).toBe(true);
    await expect(page.getByTestId('connected-for')).toHaveText(/^\d+:\d\d$/);
    await page.screenshot({ path: `artifacts/terminal-${size}.png` });
  });

  test(`a refused terminal page at ${size} says whom to ask and the way back`, async ({ page }) => {
    await page.setViewportSize(viewport);
    await signIn(page, 'developer');
    await page.goto(TERMINAL);
    await expect(page.getByTestId('status')).toHaveText('You need the Maintainer role on demo/shop to open this terminal');
    await expect(page.getByTestId('who-to-ask')).toContainText('To get access, ask a Maintainer of demo/shop: maintainer');
    await expect(page.getByTestId('back-to-project')).toHaveAttribute('href', '/');
    await page.screenshot({ path: `artifacts/terminal-refused-${size}.png` });
  });
}
