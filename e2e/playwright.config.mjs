// Playwright end-to-end tests: Debian's Chromium against a real porthole
// (built by `make test`) with its local cluster. No browser is downloaded.
import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const port = process.env.PORTHOLE_E2E_PORT || '18080';
// The config is loaded again in each worker: create the data dir once, in the
// runner, and hand it down through the environment.
process.env.PORTHOLE_E2E_DATA ||= mkdtempSync(join(tmpdir(), 'porthole-e2e-'));
const dataDir = process.env.PORTHOLE_E2E_DATA;
// The tests reach the local cluster with kubectl through its kubeconfig.
process.env.PORTHOLE_E2E_KUBECONFIG = join(dataDir, 'local-cluster', 'kubeconfig');

export default defineConfig({
  testDir: '.',
  outputDir: 'artifacts/results',
  timeout: 60_000,
  expect: { timeout: 20_000 },
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    viewport: { width: 1100, height: 700 },
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      // No WebGL: the terminal draws with its DOM renderer, whose rows the
      // tests read as text (ux-webgl.spec.mjs runs with WebGL).
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-webgl',
      ],
    },
    screenshot: 'only-on-failure',
    trace: 'off',
  },
  webServer: {
    // PORTHOLE_E2E_BINARY=../target/release/porthole times the page against
    // the release build (e2e/weight.spec.mjs).
    command: `${process.env.PORTHOLE_E2E_BINARY || '../target/debug/porthole'} --listen 127.0.0.1:${port} --data-dir ${dataDir} --dist-dir ../frontend/dist --demo-password e2e-password --shutdown-grace 0`,
    url: `http://127.0.0.1:${port}/users/sign_in`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
