import { KeyObject, createHmac, sign as nodeSign } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair } from 'jose';
import type { CryptoKey } from 'jose';
import {
  HANDOFF_TTL_SEC,
  appSessionFromHandoff,
  claimsFromIdentity,
  identityFromClaims,
  signHandoff,
  signSession,
  verifyHandoff,
  verifySession,
} from '../../src/core/session-token.js';
import type { SessionAlg, SessionClaimsInput, SigningKey, VerifyKeys, VerifyTokenOptions } from '../../src/core/session-token.js';
import { hashLoginBinding } from '../../src/core/login-binding.js';
import type { Identity } from '../../src/core/identity.js';

// Fixed clock: 2024-01-01T00:00:00Z.
const NOW = Date.UTC(2024, 0, 1);
const NOW_S = NOW / 1000;
const ISS = 'auth.acme.test';

interface TestKey {
  signing: SigningKey;
  publicKey: CryptoKey;
  privateKey: CryptoKey;
}

async function makeKey(kid: string, alg: SessionAlg = 'ES256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { signing: { kid, alg, privateKey }, publicKey, privateKey };
}

function keySet(...keys: TestKey[]): VerifyKeys {
  const m = new Map(keys.map((k) => [k.signing.kid, { alg: k.signing.alg, publicKey: k.publicKey }]));
  return { get: (kid) => m.get(kid) };
}

function claims(over: Partial<SessionClaimsInput> = {}): SessionClaimsInput {
  return {
    iss: ISS,
    sub: 'okta:42',
    aud: 'wiki',
    email: 'ada@acme.test',
    name: 'Ada',
    groups: ['admins'],
    idp: 'okta',
    idp_type: 'oidc',
    amr: ['pwd', 'mfa'],
    auth_time: NOW_S - 10,
    sid: 'sid-1',
    exp: NOW_S + 3600,
    ...over,
  };
}

const b64u = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** Sign header+payload with ES256 ourselves, bypassing jose's own header checks, to craft hostile tokens. */
function rawEs256(header: Record<string, unknown>, payload: Record<string, unknown>, key: CryptoKey): string {
  const input = `${b64u(header)}.${b64u(payload)}`;
  const sig = nodeSign('sha256', Buffer.from(input), { key: KeyObject.from(key as Parameters<typeof KeyObject.from>[0]), dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

function fullPayload(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...claims(), jti: 'j-1', iat: NOW_S, nbf: NOW_S, ...over };
}

let k1: TestKey;
let k2: TestKey;
let foreign: TestKey;
let opts: VerifyTokenOptions;

beforeAll(async () => {
  k1 = await makeKey('k1');
  k2 = await makeKey('k2', 'EdDSA');
  foreign = await makeKey('k1'); // same kid as ours, different key
  opts = { keys: keySet(k1, k2), issuer: ISS, audience: 'wiki', nowMs: NOW };
});

describe('session tokens: happy path', () => {
  test.each(['k1', 'k2'])('signs and verifies with %s', async (which) => {
    const key = which === 'k1' ? k1 : k2;
    const token = await signSession(claims(), key.signing, NOW);
    const r = await verifySession(token, opts);
    expect(r).toEqual({ ok: true, claims: expect.objectContaining({ sub: 'okta:42', sid: 'sid-1', aud: 'wiki', iat: NOW_S, nbf: NOW_S }) });
    const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as Record<string, unknown>;
    expect(header).toEqual({ alg: key.signing.alg, kid: which, typ: 'bouncer-session+jwt' });
  });

  test('jti is random unless given, extra input properties are not signed', async () => {
    const a = await signSession(claims(), k1.signing, NOW);
    const b = await signSession({ ...claims(), jti: 'mine', evil: 'x' } as SessionClaimsInput, k1.signing, NOW);
    const ra = await verifySession(a, opts);
    const rb = await verifySession(b, opts);
    if (!ra.ok || !rb.ok) throw new Error('expected ok');
    expect(ra.claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(rb.claims.jti).toBe('mine');
    expect(rb.claims).not.toHaveProperty('evil');
  });

  test('accepts within the clock tolerance', async () => {
    const token = await signSession(claims({ exp: NOW_S + 60 }), k1.signing, NOW);
    expect((await verifySession(token, { ...opts, nowMs: NOW - 20_000 })).ok).toBe(true); // 20 s before nbf
    expect((await verifySession(token, { ...opts, nowMs: NOW + 80_000 })).ok).toBe(true); // 20 s past exp
  });

  test('refuses to sign malformed claims or exp not after iat', async () => {
    await expect(signSession(claims({ exp: NOW_S }), k1.signing, NOW)).rejects.toMatchObject({ code: 'ERR_INTERNAL' });
    await expect(signSession(claims({ sid: '' }), k1.signing, NOW)).rejects.toMatchObject({ code: 'ERR_INTERNAL' });
    await expect(signSession(claims({ idp_type: 'ldap' as never }), k1.signing, NOW)).rejects.toMatchObject({ code: 'ERR_INTERNAL' });
  });
});

describe('session tokens: attacks', () => {
  test('tampered payload', async () => {
    const token = await signSession(claims(), k1.signing, NOW);
    const [h, , s] = token.split('.');
    const forged = `${h}.${b64u(fullPayload({ groups: ['root'] }))}.${s}`;
    expect(await verifySession(forged, opts)).toEqual({ ok: false, reason: 'session_invalid', detail: 'signature does not verify' });
  });

  test('tampered signature', async () => {
    const token = await signSession(claims(), k1.signing, NOW);
    const sig = Buffer.from(token.split('.')[2] ?? '', 'base64url');
    sig[5] = (sig[5] ?? 0) ^ 1;
    const forged = token.split('.').slice(0, 2).join('.') + '.' + sig.toString('base64url');
    expect(await verifySession(forged, opts)).toMatchObject({ ok: false, reason: 'session_invalid', detail: 'signature does not verify' });
  });

  test.each([
    ['none', { alg: 'none', kid: 'k1', typ: 'bouncer-session+jwt' }],
    ['NONE', { alg: 'NONE', kid: 'k1', typ: 'bouncer-session+jwt' }],
    ['no alg', { kid: 'k1', typ: 'bouncer-session+jwt' }],
  ])('alg %s', async (_name, header) => {
    for (const sig of ['', 'AAAA']) {
      const token = `${b64u(header)}.${b64u(fullPayload())}.${sig}`;
      expect(await verifySession(token, opts)).toMatchObject({ ok: false, reason: 'session_invalid' });
    }
  });

  test('HS256 signed with our public key as the HMAC secret', async () => {
    const pem = await exportSPKI(k1.publicKey);
    const jwk = JSON.stringify(await exportJWK(k1.publicKey));
    const der = KeyObject.from(k1.publicKey as Parameters<typeof KeyObject.from>[0]).export({ type: 'spki', format: 'der' });
    for (const secret of [Buffer.from(pem), Buffer.from(jwk), der]) {
      for (const alg of ['HS256', 'HS512']) {
        const input = `${b64u({ alg, kid: 'k1', typ: 'bouncer-session+jwt' })}.${b64u(fullPayload())}`;
        const token = `${input}.${createHmac(alg === 'HS256' ? 'sha256' : 'sha512', secret).update(input).digest('base64url')}`;
        expect(await verifySession(token, opts)).toEqual({ ok: false, reason: 'session_invalid', detail: 'signature algorithm not allowed' });
      }
    }
  });

  test('token signed by a foreign key that claims our kid', async () => {
    const token = await signSession(claims(), foreign.signing, NOW);
    expect(await verifySession(token, opts)).toMatchObject({ ok: false, reason: 'session_invalid', detail: 'signature does not verify' });
  });

  test('algorithm not the one of the key (EdDSA header on an ES256 kid)', async () => {
    const token = await signSession(claims(), { ...k2.signing, kid: 'k1' }, NOW);
    expect(await verifySession(token, opts)).toMatchObject({ ok: false, reason: 'session_invalid', detail: 'key "k1" is ES256, token says EdDSA' });
  });

  test('unknown kid and missing kid', async () => {
    const unknown = await signSession(claims(), { ...k1.signing, kid: 'nope' }, NOW);
    expect(await verifySession(unknown, opts)).toEqual({ ok: false, reason: 'session_invalid', detail: 'unknown key id "nope"' });
    const noKid = rawEs256({ alg: 'ES256', typ: 'bouncer-session+jwt' }, fullPayload(), k1.privateKey);
    expect(await verifySession(noKid, opts)).toEqual({ ok: false, reason: 'session_invalid', detail: 'header has no "kid"' });
    const protoKid = await signSession(claims(), { ...k1.signing, kid: '__proto__' }, NOW);
    expect(await verifySession(protoKid, opts)).toMatchObject({ ok: false, reason: 'session_invalid' });
  });

  test.each(['jku', 'x5u', 'jwk', 'x5c', 'crit'])('%s header is refused even with a valid signature', async (param) => {
    const values: Record<string, unknown> = {
      jku: 'https://evil.test/jwks.json',
      x5u: 'https://evil.test/cert.pem',
      jwk: await exportJWK(k1.publicKey),
      x5c: ['MIIB'],
      crit: ['exp'],
    };
    const token = rawEs256({ alg: 'ES256', kid: 'k1', typ: 'bouncer-session+jwt', [param]: values[param] }, fullPayload(), k1.privateKey);
    const r = await verifySession(token, opts);
    expect(r).toMatchObject({ ok: false, reason: 'session_invalid' });
    // A crit naming an unknown extension is refused by jose itself before our resolver runs.
    if (param !== 'crit') expect(r).toMatchObject({ detail: `header parameter "${param}" is not accepted` });
  });

  test('crit that jose understands (b64) is still refused', async () => {
    const token = rawEs256({ alg: 'ES256', kid: 'k1', typ: 'bouncer-session+jwt', crit: ['b64'], b64: true }, fullPayload(), k1.privateKey);
    expect(await verifySession(token, opts)).toEqual({ ok: false, reason: 'session_invalid', detail: 'header parameter "crit" is not accepted' });
  });

  test('raw signer sanity: a clean header passes, so the header tests above can fail', async () => {
    const token = rawEs256({ alg: 'ES256', kid: 'k1', typ: 'bouncer-session+jwt' }, fullPayload(), k1.privateKey);
    expect((await verifySession(token, opts)).ok).toBe(true);
  });

  test('expired', async () => {
    const token = await signSession(claims({ exp: NOW_S + 60 }), k1.signing, NOW);
    expect(await verifySession(token, { ...opts, nowMs: NOW + 91_000 })).toEqual({
      ok: false,
      reason: 'session_expired',
      detail: 'token expired at 2024-01-01T00:01:00.000Z',
    });
  });

  test('not yet valid', async () => {
    const token = await signSession(claims(), k1.signing, NOW);
    expect(await verifySession(token, { ...opts, nowMs: NOW - 31_000 })).toEqual({
      ok: false,
      reason: 'session_invalid',
      detail: 'token not valid before 2024-01-01T00:00:00.000Z',
    });
  });

  test('token for app A used on app B', async () => {
    const token = await signSession(claims({ aud: 'wiki' }), k1.signing, NOW);
    expect(await verifySession(token, { ...opts, audience: 'payroll' })).toEqual({
      ok: false,
      reason: 'session_wrong_audience',
      detail: 'token audience "wiki" is not "payroll"',
    });
  });

  test('array audience containing ours is refused', async () => {
    const token = rawEs256({ alg: 'ES256', kid: 'k1', typ: 'bouncer-session+jwt' }, fullPayload({ aud: ['wiki', 'payroll'] }), k1.privateKey);
    expect(await verifySession(token, opts)).toMatchObject({ ok: false, reason: 'session_wrong_audience' });
  });

  test('wrong issuer', async () => {
    const token = await signSession(claims({ iss: 'https://idp.evil.test' }), k1.signing, NOW);
    expect(await verifySession(token, opts)).toEqual({ ok: false, reason: 'session_invalid', detail: 'token issuer is not "auth.acme.test"' });
  });

  test.each([
    ['missing typ', {}],
    ['JWT typ', { typ: 'JWT' }],
    ['at+jwt typ', { typ: 'at+jwt' }],
  ])('%s', async (_n, typ) => {
    const token = rawEs256({ alg: 'ES256', kid: 'k1', ...typ }, fullPayload(), k1.privateKey);
    expect(await verifySession(token, opts)).toEqual({ ok: false, reason: 'session_invalid', detail: 'token type is not "bouncer-session+jwt"' });
  });

  test.each(['sub', 'sid', 'jti', 'exp', 'iat', 'nbf'])('missing required claim %s', async (claim) => {
    const p = fullPayload();
    delete p[claim];
    const token = rawEs256({ alg: 'ES256', kid: 'k1', typ: 'bouncer-session+jwt' }, p, k1.privateKey);
    expect(await verifySession(token, opts)).toEqual({ ok: false, reason: 'session_invalid', detail: `required claim "${claim}" is missing` });
  });

  test.each([
    ['groups', 'admins'],
    ['amr', [1]],
    ['idp_type', 'ldap'],
    ['auth_time', '1'],
    ['email', 5],
    ['sid', ''],
  ])('malformed claim %s', async (claim, value) => {
    const token = rawEs256({ alg: 'ES256', kid: 'k1', typ: 'bouncer-session+jwt' }, fullPayload({ [claim]: value }), k1.privateKey);
    expect(await verifySession(token, opts)).toEqual({ ok: false, reason: 'session_invalid', detail: `claim "${claim}" is malformed` });
  });

  test.each([
    ['empty', ''],
    ['junk', 'not-a-jwt'],
    ['two parts', 'a.b'],
    ['bad base64 header', '!!!.e30.AAAA'],
    ['huge', 'a'.repeat(20_000)],
  ])('junk: %s', async (_n, token) => {
    expect(await verifySession(token, opts)).toMatchObject({ ok: false, reason: 'session_invalid' });
  });
});

describe('handoff tokens', () => {
  const rd = 'https://wiki.acme.test/page?x=1';
  const bind = hashLoginBinding('b'.repeat(43));

  test('round trip and app session derived from it', async () => {
    const token = await signHandoff({ ...claims({ aud: 'wiki' }), rd, bind, session_exp: NOW_S + 7200 }, k1.signing, NOW);
    const r = await verifyHandoff(token, opts);
    if (!r.ok) throw new Error(r.detail);
    expect(r.claims).toMatchObject({ rd, bind, session_exp: NOW_S + 7200, exp: NOW_S + HANDOFF_TTL_SEC, sid: 'sid-1' });
    const app = appSessionFromHandoff(r.claims);
    expect(app).toEqual(expect.objectContaining({ aud: 'wiki', exp: NOW_S + 7200, sid: 'sid-1' }));
    expect(app).not.toHaveProperty('rd');
    expect(app).not.toHaveProperty('bind');
    expect(app).not.toHaveProperty('jti');
    const session = await signSession(app, k1.signing, NOW);
    expect((await verifySession(session, opts)).ok).toBe(true);
  });

  test('handoff token is never a session, and a session is never a handoff', async () => {
    const handoff = await signHandoff({ ...claims(), rd, bind, session_exp: NOW_S + 7200 }, k1.signing, NOW);
    const session = await signSession(claims(), k1.signing, NOW);
    expect(await verifySession(handoff, opts)).toEqual({ ok: false, reason: 'session_invalid', detail: 'token type is not "bouncer-session+jwt"' });
    expect(await verifyHandoff(session, opts)).toEqual({ ok: false, reason: 'handoff_invalid', detail: 'token type is not "bouncer-handoff+jwt"' });
  });

  test('expires after 60 s (+ tolerance), wrong app refused', async () => {
    const token = await signHandoff({ ...claims(), rd, bind, session_exp: NOW_S + 7200 }, k1.signing, NOW);
    expect(await verifyHandoff(token, { ...opts, nowMs: NOW + 91_000 })).toMatchObject({ ok: false, reason: 'handoff_expired' });
    expect(await verifyHandoff(token, { ...opts, audience: 'payroll' })).toMatchObject({ ok: false, reason: 'handoff_wrong_audience' });
  });

  test('session behind the handoff already expired', async () => {
    const token = await signHandoff({ ...claims(), rd, bind, session_exp: NOW_S + 10 }, k1.signing, NOW);
    expect(await verifyHandoff(token, { ...opts, nowMs: NOW + 20_000 })).toMatchObject({ ok: false, reason: 'handoff_expired' });
  });

  test('a handoff without a well-formed browser binding cannot be signed', async () => {
    await expect(signHandoff({ ...claims(), rd, bind: 'short', session_exp: NOW_S + 10 }, k1.signing, NOW)).rejects.toMatchObject({ code: 'ERR_INTERNAL' });
  });

  test('non-https return URL cannot be signed', async () => {
    await expect(signHandoff({ ...claims(), rd: 'javascript:alert(1)', bind, session_exp: NOW_S + 10 }, k1.signing, NOW)).rejects.toMatchObject({
      code: 'ERR_INTERNAL',
    });
  });
});

describe('identity mapping', () => {
  const identity: Identity = {
    sub: 'okta:42',
    email: 'ada@acme.test',
    emailVerified: true,
    name: 'Ada',
    groups: ['admins'],
    idp: { id: 'okta', type: 'oidc' },
    amr: ['hwk'],
    authTime: NOW - 5000,
  };

  test('identity → claims → identity round trip', async () => {
    const c = claimsFromIdentity(identity, { iss: ISS, aud: 'wiki', sid: 's', exp: NOW_S + 60, country: 'DE' });
    const r = await verifySession(await signSession(c, k1.signing, NOW), opts);
    if (!r.ok) throw new Error(r.detail);
    expect(r.claims.country).toBe('DE');
    expect(identityFromClaims(r.claims)).toEqual(identity);
  });

  test('unverified email never enters a session', () => {
    const c = claimsFromIdentity({ ...identity, emailVerified: false }, { iss: ISS, aud: 'wiki', sid: 's', exp: NOW_S + 60 });
    expect(c).not.toHaveProperty('email');
  });
});
