/**
 * The claims of bouncer's session and handoff tokens: their shape, the check
 * that a payload has it, and the mapping to and from an {@link Identity}.
 */
import type { JWTPayload } from 'jose';
import type { Identity, IdpType } from './identity.js';
import { LOGIN_BINDING_FORMAT } from './login-binding.js';

const IDP_TYPES: readonly IdpType[] = ['oidc', 'github', 'saml'];

/** Claims of a bouncer session JWT. Times (`auth_time`, `iat`, `nbf`, `exp`) are in seconds since epoch. */
export interface SessionClaims {
  iss: string;
  sub: string;
  aud: string;
  email?: string;
  name?: string;
  groups: string[];
  idp: string;
  idp_type: IdpType;
  amr: string[];
  country?: string;
  cert_fp?: string;
  auth_time: number;
  sid: string;
  jti: string;
  iat: number;
  nbf: number;
  exp: number;
}

/**
 * Claims of a handoff JWT: the identity part of a session plus where to send
 * the browser (`rd`) and the `exp` the app session should get (`session_exp`).
 * Its own `exp` is `HANDOFF_TTL_SEC` (session-token.ts) after issue.
 */
export interface HandoffClaims extends SessionClaims {
  /** Absolute `https://` URL on the app's host to return to after the cookie is set. */
  rd: string;
  /** `exp` (seconds) for the app session minted from this handoff. */
  session_exp: number;
  /**
   * SHA-256 (base64url) of the binding cookie ext_authz set on the app host when
   * it sent the browser to sign in; the handoff completes only in that browser
   * (see `core/login-binding.ts`).
   */
  bind: string;
}

/** Input of `signSession`: everything but the times and id we set ourselves. */
export type SessionClaimsInput = Omit<SessionClaims, 'iat' | 'nbf' | 'jti'> & { jti?: string };

/** Input of `signHandoff`. `exp` is the handoff's own expiry and is always now + `HANDOFF_TTL_SEC`. */
export type HandoffClaimsInput = Omit<HandoffClaims, 'iat' | 'nbf' | 'jti' | 'exp'> & { jti?: string };

/**
 * Build session claims from a freshly logged-in identity. The email is kept
 * only when the IdP marked it verified, so every email in a session is one
 * policies may trust (see {@link identityFromClaims}).
 *
 * @example
 * ```ts
 * const claims = claimsFromIdentity(identity, { iss: authDomain, aud: authDomain, sid, exp, country });
 * ```
 */
export function claimsFromIdentity(
  identity: Identity,
  o: { iss: string; aud: string; sid: string; exp: number; country?: string | undefined; certFp?: string | undefined },
): SessionClaimsInput {
  return {
    iss: o.iss,
    sub: identity.sub,
    aud: o.aud,
    ...(identity.email !== undefined && identity.emailVerified ? { email: identity.email } : {}),
    ...(identity.name !== undefined ? { name: identity.name } : {}),
    groups: [...identity.groups],
    idp: identity.idp.id,
    idp_type: identity.idp.type,
    amr: [...identity.amr],
    ...(o.country !== undefined ? { country: o.country } : {}),
    ...(o.certFp !== undefined ? { cert_fp: o.certFp } : {}),
    auth_time: Math.floor(identity.authTime / 1000),
    sid: o.sid,
    exp: o.exp,
  };
}

/**
 * The {@link Identity} a verified session stands for, for policy evaluation.
 * `emailVerified` is true whenever an email is present because
 * {@link claimsFromIdentity} only ever puts verified emails in a session.
 */
export function identityFromClaims(c: SessionClaims): Identity {
  return {
    sub: c.sub,
    email: c.email,
    emailVerified: c.email !== undefined,
    name: c.name,
    groups: c.groups,
    idp: { id: c.idp, type: c.idp_type },
    amr: c.amr,
    authTime: c.auth_time * 1000,
  };
}

/** Copy only the known session claims, dropping undefined optionals and anything extra. */
export function pickSessionClaims(c: Omit<SessionClaims, 'iat' | 'nbf' | 'jti'> & Partial<Pick<SessionClaims, 'iat' | 'nbf' | 'jti'>>): Omit<SessionClaims, 'iat' | 'nbf' | 'jti'> & Partial<SessionClaims> {
  const out: Omit<SessionClaims, 'iat' | 'nbf' | 'jti'> & Partial<SessionClaims> = {
    iss: c.iss,
    sub: c.sub,
    aud: c.aud,
    groups: c.groups,
    idp: c.idp,
    idp_type: c.idp_type,
    amr: c.amr,
    auth_time: c.auth_time,
    sid: c.sid,
    exp: c.exp,
  };
  if (c.email !== undefined) out.email = c.email;
  if (c.name !== undefined) out.name = c.name;
  if (c.country !== undefined) out.country = c.country;
  if (c.cert_fp !== undefined) out.cert_fp = c.cert_fp;
  if (c.jti !== undefined) out.jti = c.jti;
  if (c.iat !== undefined) out.iat = c.iat;
  if (c.nbf !== undefined) out.nbf = c.nbf;
  return out;
}

function isStr(v: unknown): v is string {
  return typeof v === 'string';
}
function isNonEmptyStr(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}
function isStrArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every(isStr);
}
export function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** First reason the payload is not a well-formed session, or undefined. */
export function sessionShapeProblem(p: Record<string, unknown> | JWTPayload): string | undefined {
  const checks: Array<[string, boolean]> = [
    ['iss', isNonEmptyStr(p.iss)],
    ['sub', isNonEmptyStr(p.sub)],
    ['aud', isNonEmptyStr(p.aud)],
    ['sid', isNonEmptyStr(p['sid'])],
    ['jti', isNonEmptyStr(p.jti)],
    ['idp', isNonEmptyStr(p['idp'])],
    ['idp_type', IDP_TYPES.includes(p['idp_type'] as IdpType)],
    ['groups', isStrArray(p['groups'])],
    ['amr', isStrArray(p['amr'])],
    ['auth_time', isTime(p['auth_time'])],
    ['iat', isTime(p.iat)],
    ['nbf', isTime(p.nbf)],
    ['exp', isTime(p.exp)],
    ['email', p['email'] === undefined || isStr(p['email'])],
    ['name', p['name'] === undefined || isStr(p['name'])],
    ['country', p['country'] === undefined || isStr(p['country'])],
    ['cert_fp', p['cert_fp'] === undefined || isStr(p['cert_fp'])],
  ];
  const bad = checks.find(([, ok]) => !ok);
  return bad === undefined ? undefined : `claim "${bad[0]}" is malformed`;
}

export function handoffShapeProblem(p: JWTPayload): string | undefined {
  const base = sessionShapeProblem(p);
  if (base !== undefined) return base;
  if (!isNonEmptyStr(p['rd']) || !p['rd'].startsWith('https://')) return 'claim "rd" is malformed';
  if (!isTime(p['session_exp'])) return 'claim "session_exp" is malformed';
  if (typeof p['bind'] !== 'string' || !LOGIN_BINDING_FORMAT.test(p['bind'])) return 'claim "bind" is malformed';
  return undefined;
}
