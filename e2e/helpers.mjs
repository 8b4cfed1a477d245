// Helpers shared by the end-to-end specs.
import { expect } from '@playwright/test';

export const TERMINAL = '/demo/shop/-/environments/1/terminal';

/** Signs a demo user in (the page shares the session cookie). */
export async function signIn(page, user) {
  const response = await page.request.post('/users/sign_in', {
    form: { username: user, password: 'e2e-password' },
    maxRedirects: 0,
  });
  expect(response.status()).toBe(303);
}

/** The terminal's visible rows, as text (xterm.js DOM renderer). */
export async function rows(page) {
  return page.$$eval('.xterm-rows > div', (divs) => divs.map((d) => d.textContent.replace(/\u00a0/g, ' ').trimEnd()));
}

/** Waits until some row satisfies `pred`; returns that row. */
export async function waitForRow(page, pred, what) {
  let found;
  await expect.poll(async () => {
    found = (await rows(page)).find(pred);
    return found !== undefined;
  }, { message: `a terminal row with ${what}` }).toBe(true);
  return found;
}

export async function waitForPrompt(page) {
  await waitForRow(page, (r) => /[$#]$/.test(r), 'a prompt');
}


/** Types a command into the terminal and presses Enter. */
export async function run(page, command) {
  await page.locator('.xterm').click();
  await page.keyboard.type(command);
  await page.keyboard.press('Enter');
}

/** Opens the demo environment's terminal page and waits for the shell. */
export async function openTerminal(page) {
  await page.goto(TERMINAL);
  await waitForPrompt(page);
}
