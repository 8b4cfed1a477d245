// The max session time as a person meets it (countdown, expiry), and the
// Admin area where an admin sets it and reads the audit log.
import { test, expect, request } from '@playwright/test';
import { TERMINAL, signIn, waitForPrompt } from './helpers.mjs';

/** Sets `terminal_max_session_time` as root, through the API. */
async function setMaxSessionTime(baseURL, seconds) {
  const root = await request.newContext({ baseURL });
  try {
    const signedIn = await root.post('/users/sign_in', { form: { username: 'root', password: 'e2e-password' }, maxRedirects: 0 });
    expect(signedIn.status()).toBe(303);
    const put = await root.put('/api/v4/application/settings', { data: { terminal_max_session_time: seconds } });
    expect(put.status()).toBe(200);
  } finally {
    await root.dispose();
  }
}

test.afterEach(async ({ baseURL }) => {
  // The setting is global: leave no limit behind for the other tests.
  await setMaxSessionTime(baseURL, 0);
});

test('the page counts down the max session time and says when it expired', async ({ page, baseURL }) => {
  await setMaxSessionTime(baseURL, 6);
  await signIn(page, 'maintainer');
  await page.goto(TERMINAL);
  await waitForPrompt(page);
  const status = page.getByTestId('status');
  await expect(status).toHaveText(/^Connected to pod shop-web-7c9d5b8f4-q2x7z, container web · session ends in 0:0[0-6]$/);
  const first = await status.textContent();
  // It counts down…
  await expect.poll(async () => status.textContent(), { timeout: 5_000 }).not.toBe(first);
  // …and the relay ends the session, whatever the page does.
  await expect(status).toHaveText('Session expired: the maximum session time is 6 seconds', { timeout: 15_000 });
  await expect(page.getByRole('button', { name: 'Reconnect' })).toBeVisible();
});

test('an admin sets the max session time under Admin > Settings > Web terminal', async ({ page, baseURL }) => {
  await signIn(page, 'root');
  await page.goto('/');
  await page.getByTestId('current-user').getByRole('link', { name: 'Admin' }).click();
  await expect(page).toHaveURL(/\/admin$/);
  const settings = page.getByTestId('admin-settings');
  await expect(settings).toContainText('Web terminal');
  const input = settings.locator('input[name="terminal_max_session_time"]');
  await expect(input).toHaveValue('0');
  await input.fill('42');
  await settings.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByTestId('settings-saved')).toBeVisible();
  const api = await page.request.get('/api/v4/application/settings');
  expect((await api.json()).terminal_max_session_time).toBe(42);
  // The audit log lists the session the previous test opened, and its end.
  const audit = page.getByTestId('admin-audit');
  await expect(audit.getByTestId('audit-row').first()).toBeVisible();
  await expect(audit).toContainText('Session expired: the maximum session time is 6 seconds');
  await expect(audit.getByTestId('audit-page')).toHaveText('Page 1');
  await expect(audit.getByTestId('audit-newer')).toBeDisabled();
  await expect(audit.getByTestId('audit-older')).toBeDisabled();
});

test('the Admin area is for admins only', async ({ page }) => {
  await signIn(page, 'maintainer');
  await page.goto('/admin');
  await expect(page.getByTestId('admin-refused')).toContainText('only administrators');
  await expect(page.getByTestId('current-user').getByRole('link', { name: 'Admin' })).toHaveCount(0);
});

test('an admin creates a project, an environment on the local cluster and a member, in the Admin area', async ({ page }) => {
  await signIn(page, 'root');
  await page.goto('/admin');
  const projects = page.getByTestId('admin-projects');
  await projects.locator('input[name="path_with_namespace"]').fill('e2e/web');
  await projects.getByRole('button', { name: 'Add project' }).click();
  const project = page.locator('[data-testid="admin-project"][data-project="e2e/web"]');
  await expect(project).toBeVisible();
  await project.locator('input[name="name"]').fill('Staging');
  await project.locator('select[name="cluster"]').selectOption('local');
  await project.locator('input[name="namespace"]').fill('Bad_NS');
  await project.getByRole('button', { name: 'Add environment' }).click();
  await expect(project).toContainText('namespace: a Kubernetes namespace');
  await project.locator('input[name="namespace"]').fill('shop-production');
  await project.getByRole('button', { name: 'Add environment' }).click();
  await expect(project.getByTestId('environment-row')).toContainText('Staging');
  await expect(project).not.toContainText('namespace: a Kubernetes namespace');
  await project.locator('input[name="username"]').fill('developer');
  await project.locator('select[name="access_level"]').selectOption('40');
  await project.getByRole('button', { name: 'Add member' }).click();
  await expect(project.getByTestId('member-row')).toContainText('developer');
  await expect(project.getByTestId('member-row')).toContainText('Maintainer');

  // The developer, Maintainer of e2e/web, finds it on the landing page; its
  // environment has no pods (the local cluster's belong to demo/shop).
  await page.context().clearCookies();
  await signIn(page, 'developer');
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'e2e/web' })).toBeVisible();

  // Removed again by the admin.
  await page.context().clearCookies();
  await signIn(page, 'root');
  await page.goto('/admin');
  const again = page.locator('[data-testid="admin-project"][data-project="e2e/web"]');
  await again.getByTestId('remove-member').click();
  await expect(again).toContainText('No members yet.');
  await again.getByTestId('remove-environment').click();
  await expect(again).toContainText('No environments yet.');
  page.once('dialog', (dialog) => dialog.accept());
  await again.getByTestId('remove-project').click();
  await expect(again).toHaveCount(0);
});

test('an admin adds a user, sets their password, makes them an admin and removes them', async ({ page }) => {
  await signIn(page, 'root');
  await page.goto('/admin');
  const users = page.getByTestId('admin-users');
  await users.locator('input[name="username"]').fill('carol');
  await users.locator('input[name="password"]').fill('carol-password');
  await users.getByRole('button', { name: 'Add user' }).click();
  const carol = users.locator('[data-testid="user-row"][data-username="carol"]');
  await expect(carol).toContainText('no');
  await carol.getByTestId('set-password-toggle').click();
  await users.getByTestId('set-password').locator('input[name="new_password"]').fill('carol-new-password');
  await users.getByTestId('set-password').getByRole('button', { name: 'Save' }).click();
  await expect(users.getByTestId('password-changed')).toBeVisible();
  await carol.getByTestId('toggle-admin').click();
  await expect(carol).toContainText('yes');
  // Root cannot take their own admin rights.
  const root = users.locator('[data-testid="user-row"][data-username="root"]');
  await root.getByTestId('toggle-admin').click();
  await expect(root).toContainText('You cannot take your own admin rights');
  // Carol signs in with the new password.
  const signedIn = await page.request.post('/users/sign_in', { form: { username: 'carol', password: 'carol-new-password' }, maxRedirects: 0 });
  expect(signedIn.headers().location).toBe('/');
  await signIn(page, 'root');
  await page.goto('/admin');
  await page.locator('[data-testid="user-row"][data-username="carol"]').getByTestId('remove-user').click();
  await expect(page.locator('[data-testid="user-row"][data-username="carol"]')).toHaveCount(0);
});
