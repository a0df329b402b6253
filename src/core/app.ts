import type { IdpType } from './identity.js';
import type { CompiledPolicy } from './policy/index.js';

/** An application protected by login and policies, as the decision core sees it. */
export interface App {
  readonly name: string;
  /** Lowercase hostnames; exact names and `*.suffix` wildcards. */
  readonly hostnames: readonly string[];
  /** IdP ids a user may sign in with for this app. */
  readonly idps: readonly string[];
  readonly sessionDurationSec: number;
  /** Paths (exact, or prefix with a trailing `/*`) whose clients get 401 JSON rather than a login redirect. */
  readonly apiPaths: readonly string[];
  readonly policies: readonly CompiledPolicy[];
}

/** Claims of a verified session token, as the core needs them. */
export interface SessionView {
  readonly sub: string;
  readonly sid: string;
  readonly email: string | undefined;
  readonly name: string | undefined;
  readonly groups: readonly string[];
  readonly idp: string;
  readonly idpType: IdpType;
  readonly amr: readonly string[];
  /** Seconds since epoch. */
  readonly authTime: number;
  readonly exp: number;
}

/**
 * What the adapter learned about the app session cookie before asking the core.
 * Verification is asynchronous (WebCrypto), so it happens, cached, in the adapter.
 */
export type SessionState =
  | { readonly status: 'absent' }
  | { readonly status: 'valid'; readonly token: string; readonly session: SessionView }
  | {
      readonly status: 'invalid';
      readonly reason: string;
      readonly detail: string;
      /** Whose session it was, when its signature verified (a revoked session): the decision log names them. */
      readonly session?: SessionView | undefined;
    };

/** The login service, for building redirects. */
export interface AuthSettings {
  /** Public origin of the login service, e.g. `https://auth.acme.example`. */
  readonly origin: string;
  /** Host of the login service (lowercase, no port). */
  readonly domain: string;
}
