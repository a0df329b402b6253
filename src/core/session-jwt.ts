/**
 * The one signing and verification path of bouncer's own JWTs. A token cannot
 * choose its key or algorithm: the key comes from our set by `kid` alone and
 * must be of the algorithm the header names, header parameters that point at
 * other keys are refused, and every failure is reported, never thrown.
 */
import type { KeyObject } from 'node:crypto';
import { SignJWT, errors, jwtVerify } from 'jose';
import type { CryptoKey, JWTHeaderParameters, JWTPayload, FlattenedJWSInput } from 'jose';
import { BouncerError } from './errors.js';

/** Signature algorithms bouncer signs with and accepts; nothing else is ever verified. */
export const SESSION_ALGORITHMS = ['ES256', 'EdDSA'] as const;
/** Algorithm of a bouncer signing key. */
export type SessionAlg = (typeof SESSION_ALGORITHMS)[number];
/** Default clock tolerance for `nbf`/`exp`, in seconds. */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 30;
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

/** Options for `verifySession` and `verifyHandoff` (session-token.ts). */
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

export type FailureKind = 'invalid' | 'expired' | 'wrong_audience';
export type TypedResult = { ok: true; payload: JWTPayload } | { ok: false; kind: FailureKind; detail: string };

/** Thrown by our key resolver and caught below; carries the detail to report as an `invalid` token. */
class SessionKeyRejectedError extends BouncerError<'ERR_SESSION_KEY_REJECTED'> {
  static readonly code = 'ERR_SESSION_KEY_REJECTED';
  constructor(detail: string) {
    super(SessionKeyRejectedError.code, detail);
  }
}

export async function signJwt(payload: object, key: SigningKey, typ: string): Promise<string> {
  return new SignJWT({ ...payload })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ })
    .sign(key.privateKey);
}

export async function verifyTyped(token: string, typ: string, o: VerifyTokenOptions): Promise<TypedResult> {
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

export function isoSeconds(sec: number): string {
  const d = new Date(sec * 1000);
  return Number.isNaN(d.getTime()) ? String(sec) : d.toISOString();
}
