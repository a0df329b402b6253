/**
 * Session and handoff tokens: JWTs signed by bouncer's own keys.
 *
 * Two token kinds share one signing/verification path and differ only in their
 * `typ` header (RFC 8725 §3.11 "explicit typing"), so a handoff token can never
 * be replayed as a session and vice versa, and neither can be confused with an
 * IdP's ID token (different issuer, audience, key and `typ`).
 *
 * Pure: keys and the clock come in as arguments (`nowMs`); nothing here reads
 * files, the network or the ambient clock.
 *
 * The claims and their shape are in `session-claims.ts`, the JWT signing and
 * verification path in `session-jwt.ts`; this file is the API the rest of
 * bouncer uses.
 */
import { randomUUID } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { BouncerError } from './errors.js';
import { handoffShapeProblem, pickSessionClaims, sessionShapeProblem, type HandoffClaims, type HandoffClaimsInput, type SessionClaims, type SessionClaimsInput } from './session-claims.js';
import { isoSeconds, signJwt, verifyTyped, type SigningKey, type VerifyTokenOptions } from './session-jwt.js';

export { claimsFromIdentity, identityFromClaims, type HandoffClaims, type HandoffClaimsInput, type SessionClaims, type SessionClaimsInput } from './session-claims.js';
export { DEFAULT_CLOCK_TOLERANCE_SEC, MAX_TOKEN_LENGTH, SESSION_ALGORITHMS, type SessionAlg, type SigningKey, type VerifyKeys, type VerifyTokenOptions } from './session-jwt.js';

/** `typ` header of an app or global session token. */
export const SESSION_TYP = 'bouncer-session+jwt';
/** `typ` header of a cross-domain handoff token. */
export const HANDOFF_TYP = 'bouncer-handoff+jwt';
/** Lifetime of a handoff token, in seconds: long enough for one redirect, short enough to be useless if leaked. */
export const HANDOFF_TTL_SEC = 60;

/** Why a session token was refused; the codes double as deny reasons. */
export type SessionFailure = 'session_invalid' | 'session_expired' | 'session_wrong_audience';
/** Why a handoff token was refused; the codes double as deny reasons. */
export type HandoffFailure = 'handoff_invalid' | 'handoff_expired' | 'handoff_wrong_audience';

/** Result of {@link verifySession}. */
export type VerifySessionResult =
  | { ok: true; claims: SessionClaims }
  | { ok: false; reason: SessionFailure; detail: string };

/** Result of {@link verifyHandoff}. */
export type VerifyHandoffResult =
  | { ok: true; claims: HandoffClaims }
  | { ok: false; reason: HandoffFailure; detail: string };

/**
 * Sign a session JWT (`typ: bouncer-session+jwt`, `kid` of `key`). `iat` and
 * `nbf` are set to `nowMs`, `jti` to a random UUID unless given.
 *
 * @example
 * ```ts
 * const token = await signSession({ iss: 'auth.acme.test', aud: 'wiki', sub: 'okta:42', groups: [],
 *   idp: 'okta', idp_type: 'oidc', amr: ['pwd'], auth_time: 1700000000, sid: 's1', exp: 1700028800 },
 *   keyStore.current(), nowMs);
 * ```
 * @throws BouncerError `ERR_INTERNAL` if the claims are malformed (a bug in the caller).
 */
export async function signSession(claims: SessionClaimsInput, key: SigningKey, nowMs: number): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  const full: SessionClaims = { ...pickSessionClaims(claims), jti: claims.jti ?? randomUUID(), iat, nbf: iat };
  assertSignable(full, SESSION_TYP);
  return signJwt(full, key, SESSION_TYP);
}

/**
 * Verify a session JWT: signature by a key from `keys` chosen by `kid`,
 * algorithm in {@link SESSION_ALGORITHMS}, `typ`, issuer, audience, times and
 * the shape of every claim. Never throws for a bad token.
 *
 * @example
 * ```ts
 * const r = await verifySession(cookie, { keys: keyStore.verifyKeys(), issuer, audience: app.name, nowMs });
 * if (!r.ok) return deny(r.reason, r.detail);
 * ```
 */
export async function verifySession(token: string, o: VerifyTokenOptions): Promise<VerifySessionResult> {
  const r = await verifyTyped(token, SESSION_TYP, o);
  if (!r.ok) return { ok: false, reason: `session_${r.kind}`, detail: r.detail };
  const problem = sessionShapeProblem(r.payload);
  if (problem !== undefined) return { ok: false, reason: 'session_invalid', detail: problem };
  return { ok: true, claims: pickSessionClaims(r.payload as unknown as SessionClaims) as SessionClaims };
}

/**
 * Sign a handoff JWT (`typ: bouncer-handoff+jwt`) valid for
 * {@link HANDOFF_TTL_SEC}; `aud` must be the app name. Single use is the
 * caller's job: consume `jti` in a handoff store after verifying.
 *
 * @example
 * ```ts
 * const h = await signHandoff({ ...globalClaims, aud: 'wiki', rd: 'https://wiki.acme.test/x', session_exp }, key, nowMs);
 * ```
 * @throws BouncerError `ERR_INTERNAL` if the claims are malformed.
 */
export async function signHandoff(claims: HandoffClaimsInput, key: SigningKey, nowMs: number): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  const full: HandoffClaims = {
    ...pickSessionClaims({ ...claims, exp: iat + HANDOFF_TTL_SEC }),
    rd: claims.rd,
    session_exp: claims.session_exp,
    bind: claims.bind,
    jti: claims.jti ?? randomUUID(),
    iat,
    nbf: iat,
  };
  assertSignable(full, HANDOFF_TYP);
  return signJwt(full, key, HANDOFF_TYP);
}

/**
 * Verify a handoff JWT with the same checks as {@link verifySession} but
 * `typ: bouncer-handoff+jwt`. Does not check single use.
 *
 * @example
 * ```ts
 * const r = await verifyHandoff(token, { keys, issuer, audience: app.name, nowMs });
 * if (r.ok && handoffs.consume(r.claims.jti, r.claims.exp * 1000, nowMs)) { ... }
 * ```
 */
export async function verifyHandoff(token: string, o: VerifyTokenOptions): Promise<VerifyHandoffResult> {
  const r = await verifyTyped(token, HANDOFF_TYP, o);
  if (!r.ok) return { ok: false, reason: `handoff_${r.kind}`, detail: r.detail };
  const problem = handoffShapeProblem(r.payload);
  if (problem !== undefined) return { ok: false, reason: 'handoff_invalid', detail: problem };
  const p = r.payload as unknown as HandoffClaims;
  // An app session minted from this would be born expired.
  if (p.session_exp * 1000 <= o.nowMs) return { ok: false, reason: 'handoff_expired', detail: `session behind the handoff expired at ${isoSeconds(p.session_exp)}` };
  return { ok: true, claims: { ...(pickSessionClaims(p) as SessionClaims), rd: p.rd, session_exp: p.session_exp, bind: p.bind } };
}

/**
 * Session claims (without times and id) for the app session minted from a
 * verified handoff: same identity, `aud` of the handoff, `exp = session_exp`.
 *
 * @example
 * ```ts
 * const cookie = await signSession(appSessionFromHandoff(h.claims), key, nowMs);
 * ```
 */
export function appSessionFromHandoff(h: HandoffClaims): SessionClaimsInput {
  const { rd: _rd, session_exp, bind: _bind, jti: _jti, iat: _iat, nbf: _nbf, exp: _exp, ...rest } = h;
  return { ...rest, exp: session_exp };
}

/** Refuse to sign something we would refuse to verify: that is always a caller bug. */
function assertSignable(c: SessionClaims | HandoffClaims, typ: string): void {
  const problem = typ === HANDOFF_TYP ? handoffShapeProblem(c as unknown as JWTPayload) : sessionShapeProblem(c as unknown as JWTPayload);
  if (problem !== undefined) throw new BouncerError('ERR_INTERNAL', `cannot sign ${typ}: ${problem}`);
  if (c.exp <= c.iat) throw new BouncerError('ERR_INTERNAL', `cannot sign ${typ}: exp ${c.exp} is not after iat ${c.iat}`);
}
