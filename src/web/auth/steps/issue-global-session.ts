import { randomUUID } from 'node:crypto';
import { signSession } from '../../../core/session-token.js';
import { AUTH_COOKIE, serializeCookie } from '../../../sessions/cookies.js';
import { need, type SignInContext } from '../context.js';
import { requestContext } from '../request-context.js';

/** Sign the global session (aud = auth domain) and set AUTH_COOKIE. */
export async function issueGlobalSession(ctx: SignInContext): Promise<undefined> {
  const { req, reply, nowMs } = ctx;
  const auth = need(ctx, 'auth');
  const identity = need(ctx, 'idpIdentity');
  const nowSec = Math.floor(nowMs / 1000);
  const country = requestContext(req, auth, { hostname: auth.domain, path: '/' }, nowMs).country;
  // When the auth domain is also an mTLS tenant, ext_authz verified the device and
  // told us its fingerprint (it strips any client-sent copy); the session records it.
  const fpHeader = req.headers['x-bouncer-client-fingerprint-sha256'];
  const certFp = typeof fpHeader === 'string' && /^[0-9a-f]{64}$/.test(fpHeader) ? fpHeader : undefined;
  const claims = {
    iss: auth.domain,
    sub: identity.sub,
    aud: auth.domain,
    ...(identity.email !== undefined ? { email: identity.email } : {}),
    ...(identity.name !== undefined ? { name: identity.name } : {}),
    groups: [...identity.groups],
    idp: identity.idp.id,
    idp_type: identity.idp.type,
    amr: [...identity.amr],
    ...(country !== undefined ? { country } : {}),
    ...(certFp !== undefined ? { cert_fp: certFp } : {}),
    auth_time: Math.floor(identity.authTime / 1000),
    sid: randomUUID(),
    exp: nowSec + auth.sessionDurationSec,
  };
  const jti = randomUUID();
  const token = await signSession({ ...claims, jti }, ctx.services.deps.keys.current(), nowMs);
  // Appended to the tx cookie's deletion, set when the transaction was taken.
  const prev = reply.getHeader('set-cookie');
  const list = prev === undefined ? [] : Array.isArray(prev) ? prev.map(String) : [String(prev)];
  reply.header('set-cookie', [...list, serializeCookie(AUTH_COOKIE, token, { maxAgeSec: auth.sessionDurationSec })]);
  const session = { ...claims, jti, iat: nowSec, nbf: nowSec };
  req.log.info({ sub: identity.sub, idp: identity.idp.id, app: need(ctx, 'app').name, sid: session.sid }, 'login succeeded');
  ctx.signIn = { identity, session };
  return undefined;
}
