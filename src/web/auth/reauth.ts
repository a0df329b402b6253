/** A fresh sign-in asked for by an RP through bouncer's OIDC provider (OIDC Core §3.1.2.1). */
import type { SessionClaims } from '../../core/session-token.js';

/** `prompt=login` (any age too old) or `max_age` seconds. */
export type Reauth = { readonly maxAgeSec?: number | undefined };

/** `prompt=login` / `max_age=<seconds>` of a login request, as the OIDC provider passes them on. */
export function readReauth(q: Record<string, unknown>): Reauth | undefined {
  const login = typeof q.prompt === 'string' && q.prompt.split(' ').includes('login');
  const maxAge = typeof q.max_age === 'string' && /^\d{1,9}$/.test(q.max_age) ? Number(q.max_age) : undefined;
  if (!login && maxAge === undefined) return undefined;
  return login ? { maxAgeSec: maxAge ?? 0 } : { maxAgeSec: maxAge };
}

/** The same request as query parameters, for the IdP chooser's links. */
export function reauthParams(r: Reauth | undefined): Record<string, string> {
  if (r === undefined) return {};
  return { prompt: 'login', ...(r.maxAgeSec !== undefined ? { max_age: String(r.maxAgeSec) } : {}) };
}

/** Whether the session's sign-in is older than a fresh sign-in allows; `prompt=login` (max age 0) always is. */
export function needsReauth(r: Reauth | undefined, session: SessionClaims, nowMs: number): boolean {
  if (r === undefined) return false;
  if (r.maxAgeSec === undefined || r.maxAgeSec === 0) return true;
  return session.auth_time < Math.floor(nowMs / 1000) - r.maxAgeSec;
}
