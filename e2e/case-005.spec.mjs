// case-005 — a character split across output frames: every split of 2-, 3-
// and 4-byte UTF-8 characters, each part in its own WebSocket frame, shows
// the character whole, with no U+FFFD.
import { test, expect } from '@playwright/test';
import { TERMINAL, rows, signIn, waitForPrompt, waitForRow } from './helpers.mjs';

/** Every way to cut `n` bytes into consecutive parts, [[n]] included. */
function compositions(n) {
  if (n === 0) return [[]];
  const all = [];
  for (let first = 1; first <= n; first++) {
    for (const rest of compositions(n - first)) all.push([first, ...rest]);
  }
  return all;
}

/** Every way to split `n` bytes into two or more frames. */
const splits = (n) => compositions(n).filter((parts) => parts.length > 1);

const CHARACTERS = [
  ['é', [0xc3, 0xa9]],
  ['—', [0xe2, 0x80, 0x94]],
  ['😀', [0xf0, 0x9f, 0x98, 0x80]],
];

/** One shell line per split: `printf 'k1-2 A'; printf '\303'; sleep 0.3; printf '\251'; printf 'B\n'`. */
function cases() {
  const out = [];
  for (const [char, bytes] of CHARACTERS) {
    for (const parts of splits(bytes.length)) {
      const label = `k${bytes.length}-${parts.join('')}`;
      let at = 0;
      const pieces = parts.map((len) => {
        const octal = bytes.slice(at, at + len).map((b) => `\\${b.toString(8)}`).join('');
        at += len;
        return `printf '${octal}'`;
      });
      out.push({ label, want: `${label} A${char}B`, command: `printf '${label} A'; ${pieces.join('; sleep 0.3; ')}; printf 'B\\n'` });
    }
  }
  return out;
}

test.beforeEach(async ({ page }) => {
  await signIn(page, 'maintainer');
});

test('case-005: a character split across output frames shows whole', async ({ page }) => {
  const all = cases();
  expect(all.length).toBe(1 + 3 + 7);
  await page.goto(TERMINAL);
  await waitForPrompt(page);
  await page.locator('.xterm').click();
  // `clear` first: every line below is then on screen together.
  await page.keyboard.type(`clear; ${all.map((c) => c.command).join('; ')}; echo case-005-$((2+3))`);
  await page.keyboard.press('Enter');
  await waitForRow(page, (r) => r === 'case-005-5', 'the end marker');
  const shown = await rows(page);
  for (const c of all) {
    expect(shown, c.label).toContain(c.want);
  }
  expect(shown.join('\n')).not.toContain('\ufffd');
  await page.screenshot({ path: 'artifacts/case-005.png' });
});
