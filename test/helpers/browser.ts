import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

/** Debian's Chromium; tests never download a browser. */
export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

export interface TestBrowser {
  /** A fresh context (its own cookie jar), like a separate user. */
  newContext(): Promise<BrowserContext>;
  close(): Promise<void>;
}

/**
 * Starts headless Chromium with every hostname resolving to 127.0.0.1, so a test
 * can open `https://wiki.acme.test:<envoy port>/` and reach the local Envoy with
 * the right SNI and Host. Fails (never skips) when Chromium is missing.
 */
export async function startBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}; .ci/run installs Debian's chromium package`);
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
      '--host-resolver-rules=MAP * 127.0.0.1',
    ],
  });
  return {
    // The edge CA is generated per run; accepting it here stands in for installing it.
    newContext: () => browser.newContext({ ignoreHTTPSErrors: true }),
    async close() {
      // Playwright gives each launch a fresh temporary profile and removes it on close.
      await browser.close();
    },
  };
}
