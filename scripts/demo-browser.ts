/**
 * `npm run demo -- --check`: signs in to the demo app with a real browser
 * (Debian's Chromium through playwright-core, a devDependency), the way a
 * person would: app URL → bouncer's login → demo IdP form → back on the app
 * with the identity headers bouncer adds.
 *
 * Without playwright-core (an install without devDependencies) or without
 * Chromium, the check fails and says which part is missing: --check never
 * passes on a claim it did not prove.
 */
import { existsSync } from 'node:fs';

/** Debian's Chromium, as the tests use it; CHROMIUM_BIN overrides. */
export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

export interface BrowserSignIn {
  readonly ok: boolean;
  /** What the app saw (on success) or what went wrong. */
  readonly detail: string;
}

/**
 * Opens `appUrl` in headless Chromium with every hostname mapped to 127.0.0.1
 * (so `*.localhost` and the IdP on 127.0.0.1 resolve as they would on a
 * desktop), signs in as `username`, and returns what the app page shows.
 */
export async function signInWithBrowser(appUrl: string, username: string, password: string, expected: { readonly email: string } | { readonly denied: true }): Promise<BrowserSignIn> {
  let playwright: typeof import('playwright-core');
  try {
    playwright = await import('playwright-core');
  } catch {
    return { ok: false, detail: 'playwright-core is not installed (it is a devDependency: run npm ci), so the browser sign-in was not checked' };
  }
  if (!existsSync(CHROMIUM)) return { ok: false, detail: `Chromium not found at ${CHROMIUM} (install Debian's chromium or set CHROMIUM_BIN), so the browser sign-in was not checked` };
  const browser = await playwright.chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run', '--host-resolver-rules=MAP * 127.0.0.1'],
  });
  try {
    // The demo's edge CA is made per run; accepting it stands in for a person clicking through the warning.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const app = new URL(appUrl);
    await page.goto(appUrl);
    if (new URL(page.url()).hostname !== '127.0.0.1') {
      // bouncer's IdP chooser: one IdP, one link.
      await page.getByRole('link').first().click();
    }
    await page.waitForSelector('input[name=login]');
    await page.fill('input[name=login]', username);
    await page.fill('input[name=password]', password);
    await Promise.all([page.waitForURL((u) => u.hostname !== '127.0.0.1', { timeout: 20_000 }), page.click('#submit')]);
    const text = (await page.textContent('body')) ?? '';
    if ('denied' in expected) {
      // The policy refuses this user: bouncer's deny page, never the app.
      if (/denied/i.test(text) && !text.includes('demo-app')) return { ok: true, detail: `refused with the deny page: ${text.replace(/\s+/g, ' ').trim().slice(0, 120)}` };
      return { ok: false, detail: `expected the deny page, got: ${text.replace(/\s+/g, ' ').trim().slice(0, 160)}` };
    }
    const expectEmail = expected.email;
    if (new URL(page.url()).hostname !== app.hostname) return { ok: false, detail: `signed in but left on ${page.url()}: ${text.slice(0, 160)}` };
    let seen: { identity?: Record<string, string> };
    try {
      seen = JSON.parse(text) as { identity?: Record<string, string> };
    } catch {
      return { ok: false, detail: `back on ${app.hostname} but the page is not the demo app: ${text.slice(0, 160)}` };
    }
    const email = seen.identity?.['x-bouncer-user-email'];
    if (email !== expectEmail) return { ok: false, detail: `the app saw user ${email ?? 'none'}, expected ${expectEmail}` };
    return { ok: true, detail: `the app saw ${email} (groups ${seen.identity?.['x-bouncer-user-groups'] ?? '-'}, policy ${seen.identity?.['x-bouncer-policy'] ?? '-'})` };
  } catch (err) {
    return { ok: false, detail: `browser sign-in failed: ${(err as Error).message.split('\n')[0] ?? ''}` };
  } finally {
    await browser.close();
  }
}
