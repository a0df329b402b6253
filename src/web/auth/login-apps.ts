/**
 * What a sign-in can be for: an app, a SaaS app, or the App Launcher. A SaaS app
 * is seen as an app whose only host is the auth domain: its return URL is its
 * SSO endpoint there, and after login the browser goes back to it directly (no
 * handoff: the global session cookie is already on that host).
 */
import type { AppConfig } from '../../config/types.js';
import { compilePolicies } from '../../core/policy/index.js';
import type { AuthServiceConfig } from './deps.js';

/** An app a sign-in is for; `saas` when the browser returns to the auth domain itself. */
export type LoginApp = AppConfig & { readonly saas?: true };

/** Pseudo-app for `/login?launcher=1`; not a valid app name, so it can never collide with one. */
export const LAUNCHER_APP = '~launcher';

const LAUNCHER_POLICIES = (() => {
  const r = compilePolicies([{ name: 'launcher', action: 'allow', include: [{ everyone: true }] }]);
  if (!r.ok) throw new Error('launcher policy does not compile');
  return r.policies;
})();

/** The app named `name`, or undefined when the configuration has none by that name. */
export function findLoginApp(cfg: AuthServiceConfig, idpIds: readonly string[], name: unknown): LoginApp | undefined {
  if (typeof name !== 'string') return undefined;
  if (name === LAUNCHER_APP && cfg.auth !== undefined) {
    // Signing in to see the App Launcher: any configured IdP, and the launcher
    // itself shows only the tiles whose policies the user passes.
    return {
      name: LAUNCHER_APP,
      hostnames: [cfg.auth.domain],
      idps: [...idpIds],
      sessionDurationSec: cfg.auth.sessionDurationSec,
      apiPaths: [],
      policies: LAUNCHER_POLICIES,
      launcher: { hidden: true, displayName: 'App Launcher', logo: undefined, url: undefined },
      saas: true,
    };
  }
  const found = cfg.apps.find((a) => a.name === name);
  if (found !== undefined) return found;
  const saas = cfg.saasApps?.find((a) => a.name === name);
  if (saas === undefined || cfg.auth === undefined) return undefined;
  return {
    name: saas.name,
    hostnames: [cfg.auth.domain],
    idps: saas.idps,
    sessionDurationSec: saas.sessionDurationSec,
    apiPaths: [],
    policies: saas.policies,
    launcher: { hidden: saas.hidden, displayName: saas.displayName, logo: saas.logo, url: undefined },
    saas: true,
  };
}

/** The longest session any sign-in can have derived, in ms: the bound of a sign-in revocation. */
export function longestSessionMs(c: AuthServiceConfig): number {
  const sec = Math.max(c.auth?.sessionDurationSec ?? 0, ...c.apps.map((a) => a.sessionDurationSec), ...(c.saasApps ?? []).map((a) => a.sessionDurationSec));
  return sec * 1000;
}
