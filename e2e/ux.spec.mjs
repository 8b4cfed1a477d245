// The terminal's everyday tools (issue 13): search, links, clipboard,
// rendering, fonts, theme, phone keys, idle timeout, title and bell —
// each as a person uses it, in Chromium.
import { test, expect } from '@playwright/test';
import { openTerminal, rows, run, signIn, waitForPrompt, waitForRow } from './helpers.mjs';

test.beforeEach(async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await signIn(page, 'maintainer');
});


const clipboard = (page) => page.evaluate(() => navigator.clipboard.readText());
const setClipboard = (page, text) => page.evaluate((t) => navigator.clipboard.writeText(t), text);

/** Where on the page column `col` of the row showing `text` is. */
async function cellOf(page, text, col) {
  const row = page.locator('.xterm-rows > div', { hasText: text }).last();
  const box = await row.boundingBox();
  const { cols } = await page.getByTestId('terminal').evaluate((el) => ({ cols: Number(el.dataset.cols) }));
  const screen = await page.locator('.xterm-screen').boundingBox();
  return { x: screen.x + (col + 0.5) * (screen.width / cols), y: box.y + box.height / 2 };
}

test('search: Ctrl+Shift+F, match count, case, next, Esc', async ({ page }) => {
  await openTerminal(page);
  // The command line itself must not match: the words are put together.
  await run(page, "seq 1 400 | sed 's/^/line-/'; n=eedle; u=EEDLE; printf \"N$n one\\nn$n two\\nN$u three\\n\"");
  await waitForRow(page, (r) => r === 'NEEDLE three', 'the needles');
  await page.keyboard.press('Control+Shift+F');
  const input = page.getByTestId('search-input');
  await expect(input).toBeVisible();
  await expect(input).toBeFocused();
  await input.fill('needle');
  await expect(page.getByTestId('search-count')).toHaveText(/^\d of 3$/);
  await page.getByTestId('search-case').click();
  await expect(page.getByTestId('search-case')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('search-count')).toHaveText('1 of 1');
  await input.fill('NEEDLE');
  await expect(page.getByTestId('search-count')).toHaveText('1 of 1');
  // Far back in the scrollback, and nothing at all.
  await page.getByTestId('search-case').click();
  await input.fill('line-7');
  // line-7 and line-70 to line-79, most of them in the scrollback.
  await expect(page.getByTestId('search-count')).toHaveText(/^\d+ of 11$/);
  const first = await page.getByTestId('search-count').textContent();
  await input.press('Enter');
  await expect(page.getByTestId('search-count')).not.toHaveText(first);
  await input.fill('no-such-text-anywhere');
  await expect(page.getByTestId('search-count')).toHaveText('No results');
  await input.press('Escape');
  await expect(page.getByTestId('search-bar')).toBeHidden();
  // The terminal has the keyboard again.
  await page.keyboard.type('echo after-$((2+3))');
  await page.keyboard.press('Enter');
  await waitForRow(page, (r) => r === 'after-5', 'typing after the search');
  // The Find button opens it too.
  await page.getByTestId('search-open').click();
  await expect(page.getByTestId('search-input')).toBeFocused();
});

test('scrollback is a preference kept per browser, 10 000 lines by default', async ({ page }) => {
  await openTerminal(page);
  await page.getByTestId('terminal-menu').locator('summary').click();
  const scrollback = page.getByTestId('scrollback');
  await expect(scrollback).toHaveValue('10000');
  await scrollback.fill('200');
  await scrollback.press('Enter');
  await scrollback.blur();
  await run(page, "seq 1 600 | sed 's/^/row-/'");
  await waitForRow(page, (r) => r === 'row-600', 'row-600');
  // Only 200 lines above the screen are kept: row-1 is gone.
  await page.keyboard.press('Control+Shift+F');
  await page.getByTestId('search-input').fill('row-600');
  await expect(page.getByTestId('search-count')).toHaveText('1 of 1');
  await page.getByTestId('search-input').fill('row-10');
  await expect(page.getByTestId('search-count')).toHaveText('No results');
  await page.reload();
  await waitForPrompt(page);
  await page.getByTestId('terminal-menu').locator('summary').click();
  await expect(page.getByTestId('scrollback')).toHaveValue('200');
  await page.evaluate(() => localStorage.removeItem('porthole.terminal'));
});

test('links: http(s) URLs open in a new tab without an opener', async ({ page, context }) => {
  await context.route('https://example.test/**', (route) => route.fulfill({ body: 'linked', contentType: 'text/plain' }));
  await openTerminal(page);
  await run(page, "echo 'https://example.test/porthole-link?x=1' && echo 'javascript:alert(1)'");
  await waitForRow(page, (r) => r === 'javascript:alert(1)', 'both lines');
  const at = await cellOf(page, 'https://example.test/porthole-link?x=1', 4);
  await page.mouse.move(at.x, at.y);
  await expect(page.locator('.xterm-cursor-pointer')).toHaveCount(1);
  const [popup] = await Promise.all([context.waitForEvent('page'), page.mouse.click(at.x, at.y)]);
  await expect.poll(() => popup.url()).toBe('https://example.test/porthole-link?x=1');
  expect(await popup.evaluate(() => window.opener)).toBeNull();
  await popup.close();
  // `javascript:` and other schemes are never links: frontend/src/addons.rs (is_web_link).
});

test('clipboard: Ctrl+Shift+C and V, right-click, bracketed paste, copy on select', async ({ page }) => {
  await openTerminal(page);
  await run(page, 'echo copy-me-123');
  await waitForRow(page, (r) => r === 'copy-me-123', 'the output');
  const word = await cellOf(page, 'copy-me-123', 2);
  await page.mouse.dblclick(word.x, word.y);
  await page.keyboard.press('Control+Shift+C');
  await expect.poll(() => clipboard(page)).toBe('copy-me-123');

  await setClipboard(page, 'echo pasted-$((40+2))');
  await page.locator('.xterm').click();
  await page.keyboard.press('Control+Shift+V');
  // The clipboard is read asynchronously: Enter once the text is there.
  await waitForRow(page, (r) => r.endsWith('echo pasted-$((40+2))'), 'the pasted text');
  await page.keyboard.press('Enter');
  await waitForRow(page, (r) => r === 'pasted-42', 'the pasted command');

  // Right-click with nothing selected pastes.
  await setClipboard(page, 'echo right-click-$((1+1))');
  await page.locator('.xterm').click({ button: 'right' });
  await waitForRow(page, (r) => r.endsWith('echo right-click-$((1+1))'), 'the pasted text');
  await page.keyboard.press('Enter');
  await waitForRow(page, (r) => r === 'right-click-2', 'the right-click paste');

  // A program that asked for bracketed paste gets the markers.
  await run(page, "printf '\\033[?2004h'; cat -v");
  await setClipboard(page, 'bracketed');
  await page.keyboard.press('Control+Shift+V');
  await waitForRow(page, (r) => r.includes('^[[200~bracketed^[[201~'), 'the echoed paste');
  await page.keyboard.press('Enter');
  await waitForRow(page, (r) => r === '^[[200~bracketed^[[201~', 'cat printing the paste between markers');
  await page.keyboard.press('Control+C');

  // Copy on select, from the settings menu.
  await page.getByTestId('terminal-menu').locator('summary').click();
  await page.getByTestId('copy-on-select').check();
  await page.getByTestId('terminal-menu').locator('summary').click();
  await run(page, 'echo selected-word');
  await waitForRow(page, (r) => r === 'selected-word', 'the output');
  const sel = await cellOf(page, 'selected-word', 3);
  await page.mouse.dblclick(sel.x, sel.y);
  await expect.poll(() => clipboard(page)).toBe('selected-word');
  await page.evaluate(() => localStorage.removeItem('porthole.terminal'));
});

test('a paste over 1 MiB asks first', async ({ page }) => {
  await openTerminal(page);
  await setClipboard(page, 'x'.repeat(1_500_000));
  let asked = '';
  page.once('dialog', (dialog) => {
    asked = dialog.message();
    dialog.dismiss();
  });
  await page.locator('.xterm').click();
  await page.keyboard.press('Control+Shift+V');
  await expect.poll(() => asked).toContain('Paste 1.4 MiB');
  // Refused: nothing was typed.
  await page.keyboard.type('echo still-$((3*3))');
  await page.keyboard.press('Enter');
  await waitForRow(page, (r) => r === 'still-9', 'the next command');
  expect((await rows(page)).some((r) => r.includes('xxxxxxxx'))).toBe(false);
});

test('OSC 52: a program sets the clipboard only once allowed, asked once per page', async ({ page }) => {
  await openTerminal(page);
  await setClipboard(page, 'before');
  const dialogs = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    dialog.accept();
  });
  await run(page, "printf '\\033]52;c;%s\\007' $(printf osc52-first | base64)");
  await expect.poll(() => clipboard(page)).toBe('osc52-first');
  expect(dialogs).toHaveLength(1);
  expect(dialogs[0]).toContain('wants to copy 11 characters to your clipboard');
  await run(page, "printf '\\033]52;c;%s\\007' $(printf osc52-second | base64)");
  await expect.poll(() => clipboard(page)).toBe('osc52-second');
  expect(dialogs).toHaveLength(1);
  // Reading the clipboard through OSC 52 answers nothing.
  await run(page, "printf '\\033]52;c;?\\007'; read -rs -t 5 -d $'\\a' answer && echo \"read:${answer#*;c;}:\" || echo no-answer");
  await waitForRow(page, (r) => r === 'read::', 'an empty answer');
});

test('OSC 52 refused: the clipboard stays as it was', async ({ page }) => {
  await openTerminal(page);
  await setClipboard(page, 'mine');
  let asked = 0;
  page.on('dialog', (dialog) => {
    asked += 1;
    dialog.dismiss();
  });
  await run(page, "printf '\\033]52;c;%s\\007' $(printf sneaky | base64); echo done-1");
  await waitForRow(page, (r) => r === 'done-1', 'the first write');
  await run(page, "printf '\\033]52;c;%s\\007' $(printf sneaky | base64); echo done-2");
  await waitForRow(page, (r) => r === 'done-2', 'the second write');
  expect(await clipboard(page)).toBe('mine');
  expect(asked).toBe(1);
});

test('font size: Ctrl+= and Ctrl+- change it, kept across reloads; Ctrl+0 resets', async ({ page }) => {
  await openTerminal(page);
  const cols = async () => Number(await page.getByTestId('terminal').getAttribute('data-cols'));
  await expect(page.getByTestId('font-size')).toHaveText('14');
  await page.locator('.xterm').click();
  await page.keyboard.press('Control+0');
  const before = await cols();
  await page.keyboard.press('Control+Equal');
  await expect(page.getByTestId('font-size')).toHaveText('15');
  await expect.poll(cols).toBeLessThan(before);
  await page.getByTestId('font-smaller').click();
  await page.getByTestId('font-smaller').click();
  await expect(page.getByTestId('font-size')).toHaveText('13');
  await expect.poll(cols).toBeGreaterThan(before);
  await page.reload();
  await waitForPrompt(page);
  await expect(page.getByTestId('font-size')).toHaveText('13');
  await page.locator('.xterm').click();
  await page.keyboard.press('Control+0');
  await expect(page.getByTestId('font-size')).toHaveText('14');
  // The default size again (the fit may differ by a column from the first
  // page's, as xterm.js measured its cells at another size first).
  await expect.poll(async () => Math.abs((await cols()) - before)).toBeLessThanOrEqual(1);
  await page.evaluate(() => localStorage.removeItem('porthole.terminal'));
});

test('fullscreen, screen reader mode, and every control has a label', async ({ page }) => {
  await openTerminal(page);
  await page.getByTestId('fullscreen').click();
  await expect.poll(() => page.evaluate(() => document.fullscreenElement?.className)).toBe('terminal-page');
  await page.getByTestId('fullscreen').click();
  await expect.poll(() => page.evaluate(() => document.fullscreenElement)).toBeNull();

  await page.getByTestId('terminal-menu').locator('summary').click();
  await page.getByTestId('screen-reader').check();
  await expect(page.locator('.xterm-accessibility-tree')).toHaveCount(1);
  await page.reload();
  await waitForPrompt(page);
  await expect(page.locator('.xterm-accessibility-tree')).toHaveCount(1);
  await page.evaluate(() => localStorage.removeItem('porthole.terminal'));

  const unlabelled = await page.$$eval('.tools button, .search-bar button, .search-bar input, .keybar button, .menu summary', (els) =>
    els.filter((e) => !(e.getAttribute('aria-label') || '').trim()).map((e) => e.outerHTML));
  expect(unlabelled).toEqual([]);
  // Reachable by keyboard: Tab from the page gets to the Find button.
  await page.getByTestId('search-open').focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('search-input')).toBeFocused();
});

test('theme follows prefers-color-scheme', async ({ page }) => {
  await page.emulateMedia({ colorScheme: 'light' });
  await openTerminal(page);
  await expect(page.getByTestId('terminal')).toHaveAttribute('data-theme', 'light');
  const colours = () => page.evaluate(() => [
    getComputedStyle(document.querySelector('.xterm-rows')).color,
    getComputedStyle(document.querySelector('.terminal')).backgroundColor,
  ]);
  await expect.poll(colours).toEqual(['rgb(31, 35, 40)', 'rgb(251, 251, 251)']);
  await page.emulateMedia({ colorScheme: 'dark' });
  await expect(page.getByTestId('terminal')).toHaveAttribute('data-theme', 'dark');
  await expect.poll(colours).toEqual(['rgb(230, 230, 230)', 'rgb(16, 20, 24)']);
});

test('title follows the terminal title; a bell in a hidden tab flashes it', async ({ page }) => {
  await openTerminal(page);
  await run(page, "printf '\\033]0;%s\\007' 'build logs'");
  await expect(page).toHaveTitle('demo/shop · build logs');
  await page.evaluate(() => Object.defineProperty(document, 'hidden', { configurable: true, get: () => true }));
  await run(page, "printf '\\a'");
  await expect(page).toHaveTitle('🔔 demo/shop · build logs');
  await page.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await expect(page).toHaveTitle('demo/shop · build logs');
  // A bell in a visible tab changes nothing.
  await run(page, "printf '\\a'; echo rang");
  await waitForRow(page, (r) => r === 'rang', 'the bell');
  await expect(page).toHaveTitle('demo/shop · build logs');
});

test.describe('rendering', () => {
  // With WebGL: ux-webgl.spec.mjs (its Chromium has a software GPU).
  test('without WebGL the DOM renderer draws', async ({ page }) => {
    // This project's Chromium runs with --disable-webgl.
    await openTerminal(page);
    expect(await page.evaluate(() => !!document.createElement('canvas').getContext('webgl2'))).toBe(false);
    await expect(page.getByTestId('terminal')).toHaveAttribute('data-renderer', 'dom');
    const loaded = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname));
    expect(loaded).not.toContain('/addon-webgl.mjs');
  });
});

test('phones: a key bar with sticky Ctrl, arrows and Esc, at 390×844', async ({ browser }, testInfo) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 3 });
  const page = await context.newPage();
  await signIn(page, 'maintainer');
  await openTerminal(page);
  const bar = page.getByTestId('keybar');
  await expect(bar).toBeVisible();
  // A tap on the terminal gives it the keyboard (the phone's opens).
  await page.locator('.xterm-screen').tap();
  await expect.poll(() => page.evaluate(() => document.activeElement?.className)).toContain('xterm-helper-textarea');
  await page.keyboard.type('sleep 30');
  await page.keyboard.press('Enter');
  await bar.getByRole('button', { name: 'Control (applies to the next key)' }).tap();
  await expect(bar.getByRole('button', { name: 'Control (applies to the next key)' })).toHaveAttribute('aria-pressed', 'true');
  await page.keyboard.type('c');
  await waitForRow(page, (r) => r.includes('^C'), 'the interrupt');
  await expect(bar.getByRole('button', { name: 'Control (applies to the next key)' })).toHaveAttribute('aria-pressed', 'false');
  await waitForPrompt(page);
  // Up recalls the last command; Esc and Tab are keys too.
  await bar.getByRole('button', { name: 'Up arrow' }).tap();
  await waitForRow(page, (r) => /[$#] sleep 30$/.test(r), 'the recalled command');
  await page.screenshot({ path: testInfo.outputPath('terminal-390x844.png') });
  await testInfo.attach('terminal at 390×844', { path: testInfo.outputPath('terminal-390x844.png'), contentType: 'image/png' });
  await context.close();
});

test('the key bar is for phones only', async ({ page }) => {
  await openTerminal(page);
  await expect(page.getByTestId('keybar')).toBeHidden();
});

test('idle timeout: set in Admin › Settings, warned in the status line, closed with its reason', async ({ page, browser }) => {
  const admin = await browser.newPage();
  await signIn(admin, 'root');
  const setIdle = async (seconds) => {
    const put = await admin.request.put('/api/v4/application/settings', { data: { terminal_idle_timeout: seconds } });
    expect(put.status()).toBe(200);
  };
  try {
    await admin.goto('/admin');
    const field = admin.locator('input[name="terminal_idle_timeout"]');
    await expect(field).toHaveValue('0');
    await field.fill('4');
    await admin.getByRole('button', { name: 'Save changes' }).click();
    await expect(admin.getByTestId('settings-saved')).toBeVisible();

    await openTerminal(page);
    const status = page.getByTestId('status');
    await expect(status).toContainText('without activity: type to keep it');
    // A keystroke clears the warning (and restarts the relay's count).
    await page.locator('.xterm').click();
    await page.keyboard.type('x');
    const typedAt = Date.now();
    await expect(status).not.toContainText('without activity');
    await expect(status).toHaveText('Ended: closed after 4 seconds without activity');
    // Counted from the keystroke, not from the start of the session.
    expect(Date.now() - typedAt).toBeGreaterThanOrEqual(3500);
    await waitForRow(page, (r) => r.includes('closed after 4 seconds without activity'), 'the reason in the terminal');
  } finally {
    await setIdle(0);
    await admin.close();
  }
});
