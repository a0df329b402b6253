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
 */
import type { KeyObject } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { SignJWT, errors, jwtVerify } from 'jose';
import type { CryptoKey, JWTHeaderParameters, JWTPayload, FlattenedJWSInput } from 'jose';
import { BouncerError } from './errors.js';
import type { Identity, IdpType } from './identity.js';
import { LOGIN_BINDING_FORMAT } from './login-binding.js';

/** `typ` header of an app or global session token. */
export const SESSION_TYP = 'bouncer-session+jwt';
/** `typ` header of a cross-domain handoff token. */
export const HANDOFF_TYP = 'bouncer-handoff+jwt';
/** Signature algorithms bouncer signs with and accepts; nothing else is ever verified. */
export const SESSION_ALGORITHMS = ['ES256', 'EdDSA'] as const;
/** Algorithm of a bouncer signing key. */
export type SessionAlg = (typeof SESSION_ALGORITHMS)[number];
/** Default clock tolerance for `nbf`/`exp`, in seconds. */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 30;
/** Lifetime of a handoff token, in seconds: long enough for one redirect, short enough to be useless if leaked. */
export const HANDOFF_TTL_SEC = 60;
/**
 * Tokens longer than this are refused before any parsing. Real sessions are a
 * few hundred bytes to a few KB (groups); the cap keeps junk cookies cheap.
 */
export const MAX_TOKEN_LENGTH = 16_384;

/**
 * Header parameters that would let a token name its own key or demand
 * extensions. We pick keys by `kid` from our own set only (security notes,
 * JWT), so a token carrying any of these is refused outright rather than
 * having them silently ignored.
 */
const FORBIDDEN_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'crit'] as const;

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
 * Its own `exp` is {@link HANDOFF_TTL_SEC} after issue.
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

/** A private key to sign with. */
export interface SigningKey {
  kid: string;
  alg: SessionAlg;
  privateKey: CryptoKey | KeyObject;
}

/** Public keys to verify with, looked up by `kid` only. */
export interface VerifyKeys {
  get(kid: string): { alg: SessionAlg; publicKey: CryptoKey | KeyObject } | undefined;
}

/** Options for {@link verifySession} and {@link verifyHandoff}. */
export interface VerifyTokenOptions {
  keys: VerifyKeys;
  /** Expected `iss`: the auth domain. */
  issuer: string;
  /** Expected `aud`: the app name (or the auth domain for the global session). */
  audience: string;
  nowMs: number;
  /** Leeway for `nbf`/`exp`, default {@link DEFAULT_CLOCK_TOLERANCE_SEC}. */
  clockToleranceSec?: number;
}

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

/** Input of {@link signSession}: everything but the times and id we set ourselves. */
export type SessionClaimsInput = Omit<SessionClaims, 'iat' | 'nbf' | 'jti'> & { jti?: string };

/** Input of {@link signHandoff}. `exp` is the handoff's own expiry and is always now + {@link HANDOFF_TTL_SEC}. */
export type HandoffClaimsInput = Omit<HandoffClaims, 'iat' | 'nbf' | 'jti' | 'exp'> & { jti?: string };

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
  return sign(full, key, SESSION_TYP);
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
  return sign(full, key, HANDOFF_TYP);
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

// ---------------------------------------------------------------------------

type FailureKind = 'invalid' | 'expired' | 'wrong_audience';
type TypedResult = { ok: true; payload: JWTPayload } | { ok: false; kind: FailureKind; detail: string };

/** Thrown by our key resolver and caught below; carries the detail to report as an `invalid` token. */
class SessionKeyRejectedError extends BouncerError<'ERR_SESSION_KEY_REJECTED'> {
  static readonly code = 'ERR_SESSION_KEY_REJECTED';
  constructor(detail: string) {
    super(SessionKeyRejectedError.code, detail);
  }
}

async function sign(payload: SessionClaims | HandoffClaims, key: SigningKey, typ: string): Promise<string> {
  return new SignJWT({ ...payload })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ })
    .sign(key.privateKey);
}

async function verifyTyped(token: string, typ: string, o: VerifyTokenOptions): Promise<TypedResult> {
  if (typeof token !== 'string' || token.length === 0) return { ok: false, kind: 'invalid', detail: 'token is empty' };
  if (token.length > MAX_TOKEN_LENGTH) return { ok: false, kind: 'invalid', detail: `token longer than ${MAX_TOKEN_LENGTH} characters` };
  // Custom resolver: the key comes from our set by `kid` alone, and its
  // algorithm must be the one the header claims, so a token cannot steer which
  // key or algorithm verifies it.
  const resolve = (header: JWTHeaderParameters, _jws: FlattenedJWSInput): CryptoKey | KeyObject => {
    for (const h of FORBIDDEN_HEADERS) {
      if (Object.hasOwn(header, h)) throw new SessionKeyRejectedError(`header parameter "${h}" is not accepted`);
    }
    if (typeof header.kid !== 'string' || header.kid.length === 0) throw new SessionKeyRejectedError('header has no "kid"');
    const entry = o.keys.get(header.kid);
    if (entry === undefined) throw new SessionKeyRejectedError(`unknown key id "${truncate(header.kid)}"`);
    if (entry.alg !== header.alg) throw new SessionKeyRejectedError(`key "${header.kid}" is ${entry.alg}, token says ${String(header.alg)}`);
    return entry.publicKey;
  };
  try {
    const { payload } = await jwtVerify(token, resolve, {
      algorithms: [...SESSION_ALGORITHMS],
      typ,
      issuer: o.issuer,
      audience: o.audience,
      requiredClaims: ['sub', 'sid', 'jti', 'exp', 'iat', 'nbf'],
      clockTolerance: o.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
      currentDate: new Date(o.nowMs),
    });
    // jose accepts an array `aud` containing ours; we only ever issue a single
    // string, so anything else was not minted by us for this audience alone.
    if (payload.aud !== o.audience) return { ok: false, kind: 'wrong_audience', detail: `token audience is not "${o.audience}"` };
    return { ok: true, payload };
  } catch (e) {
    return describeFailure(e, typ, o);
  }
}

function describeFailure(e: unknown, typ: string, o: VerifyTokenOptions): { ok: false; kind: FailureKind; detail: string } {
  const fail = (kind: FailureKind, detail: string) => ({ ok: false as const, kind, detail });
  if (e instanceof SessionKeyRejectedError) return fail('invalid', e.message);
  if (e instanceof errors.JWTExpired) {
    const exp = e.payload.exp;
    return fail('expired', typeof exp === 'number' ? `token expired at ${isoSeconds(exp)}` : 'token expired');
  }
  if (e instanceof errors.JWTClaimValidationFailed) {
    const claim = e.claim;
    if (e.reason === 'missing') return fail('invalid', `required claim "${claim}" is missing`);
    switch (claim) {
      case 'aud':
        return fail('wrong_audience', `token audience ${describeAud(e.payload.aud)} is not "${o.audience}"`);
      case 'iss':
        return fail('invalid', `token issuer is not "${o.issuer}"`);
      case 'typ':
        return fail('invalid', `token type is not "${typ}"`);
      case 'nbf': {
        const nbf = e.payload.nbf;
        return fail('invalid', typeof nbf === 'number' ? `token not valid before ${isoSeconds(nbf)}` : 'token not yet valid');
      }
      default:
        return fail('invalid', `claim "${claim}" is invalid`);
    }
  }
  if (e instanceof errors.JOSEAlgNotAllowed) return fail('invalid', 'signature algorithm not allowed');
  if (e instanceof errors.JWSSignatureVerificationFailed) return fail('invalid', 'signature does not verify');
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid) return fail('invalid', `malformed token: ${e.message}`);
  if (e instanceof errors.JOSENotSupported) return fail('invalid', `unsupported token: ${e.message}`);
  // Anything else (a key that will not import, a runtime error) still denies.
  return fail('invalid', 'token could not be verified');
}

function describeAud(aud: unknown): string {
  if (typeof aud === 'string') return `"${truncate(aud)}"`;
  if (Array.isArray(aud)) return `[${aud.map((a) => (typeof a === 'string' ? `"${truncate(a)}"` : '?')).join(', ')}]`;
  return 'missing';
}

function truncate(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}

function isoSeconds(sec: number): string {
  const d = new Date(sec * 1000);
  return Number.isNaN(d.getTime()) ? String(sec) : d.toISOString();
}

/** Copy only the known session claims, dropping undefined optionals and anything extra. */
function pickSessionClaims(c: Omit<SessionClaims, 'iat' | 'nbf' | 'jti'> & Partial<Pick<SessionClaims, 'iat' | 'nbf' | 'jti'>>): Omit<SessionClaims, 'iat' | 'nbf' | 'jti'> & Partial<SessionClaims> {
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
function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** First reason the payload is not a well-formed session, or undefined. */
function sessionShapeProblem(p: Record<string, unknown> | JWTPayload): string | undefined {
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

function handoffShapeProblem(p: JWTPayload): string | undefined {
  const base = sessionShapeProblem(p);
  if (base !== undefined) return base;
  if (!isNonEmptyStr(p['rd']) || !p['rd'].startsWith('https://')) return 'claim "rd" is malformed';
  if (!isTime(p['session_exp'])) return 'claim "session_exp" is malformed';
  if (typeof p['bind'] !== 'string' || !LOGIN_BINDING_FORMAT.test(p['bind'])) return 'claim "bind" is malformed';
  return undefined;
}

/** Refuse to sign something we would refuse to verify: that is always a caller bug. */
function assertSignable(c: SessionClaims | HandoffClaims, typ: string): void {
  const problem = typ === HANDOFF_TYP ? handoffShapeProblem(c as unknown as JWTPayload) : sessionShapeProblem(c as unknown as JWTPayload);
  if (problem !== undefined) throw new BouncerError('ERR_INTERNAL', `cannot sign ${typ}: ${problem}`);
  if (c.exp <= c.iat) throw new BouncerError('ERR_INTERNAL', `cannot sign ${typ}: exp ${c.exp} is not after iat ${c.iat}`);
}
