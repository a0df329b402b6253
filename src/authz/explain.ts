/**
 * `bouncer access explain`: builds the CheckRequest Envoy would send for an
 * operator's description of a request, runs it through {@link decideCheck}
 * (the ext_authz server's own decision steps) with a trace, and explains the
 * result. Nothing here decides: it only sets up the input and reads the trace.
 */
import { randomBytes } from 'node:crypto';
import type { SessionState, SessionView } from '../core/app.js';
import { BouncerError } from '../core/errors.js';
import { buildExplanation, TraceCollector, type AssertedClaims, type ExplainedSession, type Explanation, type ExplainQuery } from '../core/explanation.js';
import type { IdpType } from '../core/identity.js';
import { hashServiceSecret, verifyServiceToken, type ServiceTokenEntry } from '../core/service-token.js';
import { normalizeHost, resolveTenant } from '../core/tenant-index.js';
import { APP_COOKIE } from '../sessions/cookies.js';
import { SERVICE_TOKEN_HEADERS, type CheckRequestMessage } from './check-request.js';
import { decideCheck, type AuthzState } from './decide-check.js';
import { APP_PATHS } from './session-gate.js';

export type { AssertedClaims, ExplainQuery } from '../core/explanation.js';

export interface ExplainOptions {
  /** IdP ids → types, for asserted claims (default `oidc`). */
  readonly idpTypes?: ReadonlyMap<string, IdpType> | undefined;
  /** Things the caller knows this explanation cannot see (the CLI's in-memory revocations). */
  readonly notes?: readonly string[] | undefined;
}

/** Limits on what an operator may submit; far above any real request. */
export const EXPLAIN_LIMITS = {
  /** Bytes of certificate PEM (a leaf and a few intermediates). */
  certificatePemBytes: 64 * 1024,
  /** Characters of a session token. */
  sessionTokenChars: 16 * 1024,
} as const;

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function fail(message: string): never {
  throw new BouncerError('ERR_EXPLAIN_INPUT', message);
}

/** Envoy sends the peer certificate URL-encoded (`source.certificate`) and the intermediates only in XFCC `Chain`. */
function certificateFields(pem: string): { certificate: string; xfcc: string | undefined } {
  if (pem.length > EXPLAIN_LIMITS.certificatePemBytes) fail(`the certificate PEM is larger than ${EXPLAIN_LIMITS.certificatePemBytes} bytes`);
  const blocks = pem.match(PEM_BLOCK) ?? [];
  const leaf = blocks[0];
  if (leaf === undefined) fail('the certificate file holds no PEM CERTIFICATE block');
  const certificate = encodeURIComponent(`${leaf}\n`);
  if (blocks.length === 1) return { certificate, xfcc: undefined };
  // As Envoy's SANITIZE_SET writes it with `cert` and `chain` details: the same leaf, plus the chain.
  return { certificate, xfcc: `Cert="${certificate}";Chain="${encodeURIComponent(`${blocks.join('\n')}\n`)}"` };
}

function assertServiceToken(id: string): { entry: ServiceTokenEntry; credentials: { clientId: string; clientSecret: string } } {
  const clientSecret = randomBytes(16).toString('hex');
  return { entry: { id, clientId: 'bouncer-explain-asserted', secretSha256: hashServiceSecret(clientSecret) }, credentials: { clientId: 'bouncer-explain-asserted', clientSecret } };
}

function assertedSession(c: AssertedClaims, nowMs: number, idpTypes: ReadonlyMap<string, IdpType> | undefined): SessionView {
  const idp = c.idp ?? 'asserted';
  const authTime = Math.floor((c.loginTimeMs ?? nowMs) / 1000);
  return Object.freeze({
    sub: c.sub ?? `${idp}:${c.email ?? 'asserted-user'}`,
    sid: 'asserted',
    email: c.email?.toLowerCase(),
    name: c.name,
    groups: Object.freeze([...(c.groups ?? [])]),
    idp,
    idpType: idpTypes?.get(idp) ?? 'oidc',
    amr: Object.freeze([...(c.amr ?? [])]),
    authTime,
    exp: Math.floor(nowMs / 1000) + 3600,
  });
}

function describeSession(q: ExplainQuery, state: SessionState | undefined): ExplainedSession {
  const source = q.claims !== undefined ? 'asserted' : q.sessionToken !== undefined ? 'token' : 'none';
  if (state === undefined || state.status === 'absent') return { source, verified: false, status: 'absent' };
  if (state.status === 'invalid') return { source, verified: false, status: state.reason, detail: state.detail };
  const s = state.session;
  return {
    source,
    verified: source === 'token',
    status: 'valid',
    sub: s.sub,
    email: s.email,
    groups: s.groups,
    idp: s.idp,
    amr: s.amr,
    auth_time: new Date(s.authTime * 1000).toISOString(),
  };
}

/**
 * Explains the decision ext_authz would make for `q` at `nowMs`, with `state`
 * (the server's live state in the admin API, one built from the config file in
 * the CLI).
 *
 * @throws BouncerError `ERR_EXPLAIN_INPUT` for input that cannot describe a request.
 */
export async function explainRequest(live: AuthzState, q: ExplainQuery, nowMs: number, options: ExplainOptions = {}): Promise<Explanation> {
  let state = live;
  const host = normalizeHost(q.host);
  if (host === '') fail(`"${q.host}" is not a hostname`);
  const path = q.path ?? '/';
  if (!path.startsWith('/')) fail(`the path must start with "/", got "${path}"`);
  const method = (q.method ?? 'GET').toUpperCase();
  if (!/^[A-Z]{1,16}$/.test(method)) fail(`"${q.method ?? ''}" is not an HTTP method`);
  if (q.sessionToken !== undefined && q.claims !== undefined) fail('give a session token or asserted claims, not both');
  if (q.sessionToken !== undefined && (q.sessionToken === '' || q.sessionToken.length > EXPLAIN_LIMITS.sessionTokenChars || /[\s;,]/.test(q.sessionToken))) {
    fail('the session token is empty, too long, or holds characters a cookie cannot carry');
  }
  if (q.serviceToken !== undefined && q.serviceTokenId !== undefined) fail('give service token credentials or an asserted service token id, not both');
  if (q.serviceTokenId !== undefined && !/^[A-Za-z0-9._-]{1,128}$/.test(q.serviceTokenId)) fail(`"${q.serviceTokenId}" is not a service token id`);
  if (q.country !== undefined && !/^[A-Za-z]{2}$/.test(q.country)) fail(`the country must be an ISO 3166 alpha-2 code, got "${q.country}"`);

  // An asserted token id becomes the only configured token, with credentials made here: the
  // service token check then passes it exactly as it passes a verified one. The state is copied, never changed.
  const assertedToken = q.serviceTokenId !== undefined ? assertServiceToken(q.serviceTokenId) : undefined;
  if (assertedToken && state.identity) state = { ...state, identity: { ...state.identity, serviceTokens: [assertedToken.entry] } };
  const credentials = assertedToken?.credentials ?? q.serviceToken;
  const identity = state.identity;
  const app = identity ? resolveTenant(identity.apps, host) : undefined;
  const pathOnly = path.split('?')[0];
  if (app && (pathOnly === APP_PATHS.handoff || pathOnly === APP_PATHS.logout)) {
    // Explaining them would consume a sign-in link or revoke a session.
    fail(`bouncer answers ${pathOnly} on app hosts itself (sign-in handoff and sign-out); there is no policy decision to explain`);
  }

  const notes: string[] = [...(options.notes ?? [])];
  const headers: Record<string, string> = { ':authority': q.host, ':method': method, ':path': path, accept: q.accept ?? 'text/html' };
  if (q.sessionToken !== undefined) headers['cookie'] = `${APP_COOKIE}=${q.sessionToken}`;
  if (credentials !== undefined) {
    headers[SERVICE_TOKEN_HEADERS.clientId] = credentials.clientId;
    headers[SERVICE_TOKEN_HEADERS.clientSecret] = credentials.clientSecret;
  }
  if (assertedToken) notes.push(`the service token "${assertedToken.entry.id}" was asserted, not verified: no credentials were checked`);
  if (q.country !== undefined) {
    if (identity?.countryHeader !== undefined) headers[identity.countryHeader.toLowerCase()] = q.country;
    else notes.push('the country is ignored: no trusted country header is configured (auth.country_header), so policies never see one');
  }
  const cert = q.certificatePem !== undefined ? certificateFields(q.certificatePem) : undefined;
  if (cert?.xfcc !== undefined) headers['x-forwarded-client-cert'] = cert.xfcc;
  const sni = q.sni ?? host;
  const request: CheckRequestMessage = {
    attributes: {
      source: { ...(q.sourceIp !== undefined ? { address: { socket_address: { address: q.sourceIp } } } : {}), ...(cert ? { certificate: cert.certificate } : {}) },
      request: { http: { id: 'explain', method, path, host: q.host, headers } },
      tls_session: { sni },
    },
  };

  let asserted: SessionState | undefined;
  if (q.claims !== undefined) {
    asserted = { status: 'valid', token: '', session: assertedSession(q.claims, nowMs, options.idpTypes) };
    notes.push('the session was asserted, not verified: its claims were taken as given');
  }
  const trace = new TraceCollector();
  const outcome = await decideCheck(state, request, () => nowMs, undefined, { trace, assertedSession: asserted });
  const sessionState = outcome.input.session;
  if (q.sessionToken !== undefined && !app) notes.push(`${host} belongs to no app: the session token was not read`);

  return buildExplanation({
    decision: outcome.decision,
    trace,
    nowMs,
    request: { host, path, method, sni, source_ip: q.sourceIp, country: outcome.input.country },
    appPolicies: app?.policies ?? [],
    session: describeSession(q, asserted ?? sessionState),
    serviceToken:
      credentials === undefined
        ? undefined
        : {
            clientId: assertedToken ? '(asserted)' : credentials.clientId,
            id: verifyServiceToken(identity?.serviceTokens ?? [], credentials.clientId, credentials.clientSecret)?.id,
            asserted: assertedToken !== undefined,
          },
    notes,
  });
}
