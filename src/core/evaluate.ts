import type { CertReading, CertVerifier, RequestCertVerdict } from './cert-verifier.js';
import { policyView, toIdentity } from './client-identity.js';
import type { CheckInput, ClientIdentity, Decision } from './decision.js';
import { statusFor, type DenyReason } from './reasons.js';
import type { App, AuthSettings, SessionView } from './app.js';
import type { Identity, RequestContext } from './identity.js';
import { evaluatePolicies, type PolicyTrace } from './policy/index.js';
import { verifyServiceToken, type ServiceTokenEntry } from './service-token.js';
import { normalizeHost, resolveTenant, type HostIndex, type TenantIndex } from './tenant-index.js';
import type { Tenant } from './tenant.js';
import type { ParsedCert } from './cert-parse.js';
import type { RevocationView } from './revocation-policy.js';
import { pickCertificate, type XfccOptions } from './request-certificate.js';

/** Everything a decision depends on besides the request; the caller owns the clock. */
export interface EvaluateContext {
  readonly tenants: TenantIndex;
  /** Apps by hostname; absent when no app is configured. */
  readonly apps?: HostIndex<App> | undefined;
  /** The login service; required for login redirects. */
  readonly auth?: AuthSettings | undefined;
  readonly serviceTokens?: readonly ServiceTokenEntry[] | undefined;
  readonly verifier: CertVerifier;
  /** Network revocation answers, for tenants with `mtls.revocation`; without it such tenants are denied. */
  readonly revocation?: RevocationView | undefined;
  readonly xfcc: XfccOptions;
  readonly nowMs: number;
}

/**
 * An optional observer of one decision, for `bouncer access explain`: the
 * policy trace, plus how the tenant's client-certificate check came out (the
 * decision itself keeps only the final reason). Absent on the ext_authz path.
 */
export interface DecisionTrace extends PolicyTrace {
  mtls(outcome: MtlsTraceOutcome): void;
}

/** The mTLS step as a trace reports it: the allow reason it passed with, or the denial. */
export type MtlsTraceOutcome =
  | { readonly ok: true; readonly reason: 'mtls_verified' | 'mtls_optional_absent' | 'mtls_off' | 'path_exempt'; readonly identity: ClientIdentity | undefined }
  | { readonly ok: false; readonly reason: DenyReason; readonly detail: string };

function deny(reason: DenyReason, detail: string, tenant?: Tenant, identity?: ClientIdentity, cacheHit = false): Decision {
  return { allow: false, reason, status: statusFor(reason), detail, tenant: tenant?.name, identity, cacheHit };
}

/**
 * An exempt path must match exactly, or by prefix for entries ending in `/*`.
 * Only clean paths qualify: dot segments or encoded characters never reach an
 * exemption, so `/healthz/../admin` is checked like any other path.
 */
export function isExemptPath(path: string, exempt: readonly string[]): boolean {
  if (exempt.length === 0) return false;
  const q = path.indexOf('?');
  const p = q >= 0 ? path.slice(0, q) : path;
  if (!p.startsWith('/') || p.includes('%') || p.includes('\\') || /(^|\/)\.\.?(\/|$)/.test(p)) return false;
  for (const e of exempt) {
    if (e.endsWith('/*')) {
      const prefix = e.slice(0, -1);
      if (p.startsWith(prefix) || p === e.slice(0, -2)) return true;
    } else if (p === e) {
      return true;
    }
  }
  return false;
}

/** Reads the request's certificate and, when one was presented, verifies it for `tenant`. */
function readAndVerify(input: CheckInput, ctx: EvaluateContext, tenant: Tenant): RequestCertVerdict {
  // Nothing to read: skip hashing the (absent) fields.
  if (input.xfcc === undefined && !input.peerCertificate && !input.peerCertificateEncoded) return { kind: 'none' };
  const read = (): CertReading => pickCertificate(input, ctx.xfcc);
  const verifier = ctx.verifier;
  if (verifier.verifyRequest) {
    const raw = {
      peerCertificate: input.peerCertificate,
      peerCertificateEncoded: input.peerCertificateEncoded,
      xfcc: input.xfcc,
      trustedHop: ctx.xfcc.trustedHop,
      maxElements: ctx.xfcc.maxElements,
    };
    return verifier.verifyRequest(tenant, raw, ctx.nowMs, read);
  }
  const reading = read();
  return reading.kind === 'presented' ? { kind: 'verdict', verdict: verifier.verify(tenant, reading.cert, ctx.nowMs) } : reading;
}

type MtlsOutcome =
  | { readonly ok: false; readonly decision: Decision }
  | { readonly ok: true; readonly reason: 'mtls_verified' | 'mtls_optional_absent' | 'mtls_off' | 'path_exempt'; readonly identity: ClientIdentity | undefined; readonly cacheHit: boolean };

/** The tenant's client-certificate check: a denial, or what the certificate proved. */
function checkMtls(input: CheckInput, ctx: EvaluateContext, tenant: Tenant, host: string): MtlsOutcome {
  if (tenant.mtls.mode === 'off') return { ok: true, reason: 'mtls_off', identity: undefined, cacheHit: false };
  if (isExemptPath(input.path, tenant.mtls.exemptPaths)) return { ok: true, reason: 'path_exempt', identity: undefined, cacheHit: false };

  const outcome = readAndVerify(input, ctx, tenant);
  if (outcome.kind === 'refused') return { ok: false, decision: deny(outcome.reason, outcome.detail, tenant) };
  if (outcome.kind === 'none') {
    if (tenant.mtls.mode === 'optional') return { ok: true, reason: 'mtls_optional_absent', identity: undefined, cacheHit: false };
    return { ok: false, decision: deny('client_cert_missing', `${host} requires a client certificate`, tenant) };
  }
  const verdict = outcome.verdict;
  if (!verdict.ok) {
    // A presented but invalid certificate is refused even in optional mode.
    return {
      ok: false,
      decision: deny(verdict.reason, verdict.detail, tenant, verdict.presentedLeaf ? toIdentity(verdict.presentedLeaf) : undefined, verdict.cached),
    };
  }
  const leaf = verdict.chain[0];
  if (!leaf) return { ok: false, decision: deny('internal_error', 'verified chain is empty', tenant) };
  if (tenant.mtls.revocation !== undefined) {
    const refused = checkRevocation(ctx, tenant, verdict.chain, verdict.cached);
    if (refused) return { ok: false, decision: refused };
  }
  return { ok: true, reason: 'mtls_verified', identity: toIdentity(leaf), cacheHit: verdict.cached };
}

/**
 * The network revocation answer for a verified chain: read from memory (the
 * view's caches), never fetched here. Fails closed when the view is missing.
 */
function checkRevocation(ctx: EvaluateContext, tenant: Tenant, chain: readonly ParsedCert[], cached: boolean): Decision | undefined {
  const leaf = chain[0] as ParsedCert;
  if (!ctx.revocation) return deny('internal_error', 'mtls.revocation is configured but no revocation checker is running', tenant, toIdentity(leaf), cached);
  const answer = ctx.revocation.check(tenant, chain, ctx.nowMs);
  if (answer.kind === 'pass') return undefined;
  const decision = deny(answer.reason, answer.detail, tenant, toIdentity(leaf), cached);
  return answer.settled && !decision.allow ? { ...decision, revocationSettled: answer.settled } : decision;
}

/**
 * Decides one request. Pure: the tenant and app tables, verifier, options and
 * time all come from `ctx`, so every case can be replayed in a unit test.
 *
 * Order: the hostname selects a tenant (client certificates) and/or an app
 * (login and policies); the SNI must belong to the same tenant; the tenant's
 * mTLS check runs first, and its verified certificate becomes policy input.
 * `trace` (explain only) hears the mTLS outcome and every evaluated policy.
 */
export function evaluate(input: CheckInput, ctx: EvaluateContext, trace?: DecisionTrace): Decision {
  const host = normalizeHost(input.authority);
  if (host === '') return deny('host_missing', 'request has no valid :authority / Host');
  const tenant = resolveTenant(ctx.tenants, host);
  const app = ctx.apps ? resolveTenant(ctx.apps, host) : undefined;
  const isAuthDomain = ctx.auth !== undefined && host === ctx.auth.domain;
  if (!tenant && !app && !isAuthDomain) return deny('tenant_unknown', `no tenant or app serves ${host}`);

  if (input.sni !== undefined && input.sni !== '') {
    const sniHost = normalizeHost(input.sni);
    if (sniHost !== host) {
      const sniTenant = sniHost === '' ? undefined : resolveTenant(ctx.tenants, sniHost);
      // One tenant's connection (and the certificate it presented) must never carry
      // requests for another tenant's hostname, as HTTP/2 coalescing would allow.
      // By name: a store may hand out one object per hostname for the same tenant.
      if (sniTenant?.name !== tenant?.name) {
        return deny('sni_host_mismatch', `TLS server name ${sniHost || input.sni} does not belong to the tenant serving ${host}`, tenant);
      }
    }
  }

  const mtls: MtlsOutcome = tenant ? checkMtls(input, ctx, tenant, host) : { ok: true, reason: 'mtls_off', identity: undefined, cacheHit: false };
  if (trace !== undefined && tenant) traceMtls(trace, mtls);
  if (!mtls.ok) return mtls.decision;
  if (app) return decideApp(input, ctx, app, host, tenant, mtls.identity, mtls.cacheHit, trace);
  if (isAuthDomain && !tenant) return { allow: true, reason: 'auth_domain', tenant: undefined, identity: undefined, cacheHit: false };
  return { allow: true, reason: mtls.reason, tenant: tenant?.name, identity: mtls.identity, cacheHit: mtls.cacheHit };
}

function traceMtls(trace: DecisionTrace, mtls: MtlsOutcome): void {
  if (mtls.ok) trace.mtls({ ok: true, reason: mtls.reason, identity: mtls.identity });
  else if (!mtls.decision.allow) trace.mtls({ ok: false, reason: mtls.decision.reason, detail: mtls.decision.detail });
}

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

/** API clients get 401 JSON; browsers get a login redirect they can follow. */
export function isApiRequest(input: CheckInput, app: App): boolean {
  if (!SAFE_METHODS.has(input.method.toUpperCase())) return true;
  const accept = (input.accept ?? '').toLowerCase();
  if (accept.includes('application/json') && !accept.includes('text/html')) return true;
  return app.apiPaths.length > 0 && isExemptPath(input.path, app.apiPaths);
}

function wantsHtml(input: CheckInput): boolean {
  return (input.accept ?? '').toLowerCase().includes('text/html');
}

/**
 * What policies see of a session, built once per session view: the session
 * gate hands out the same frozen view for every request of a cached token, so
 * the identity (and the CEL map built from it) is shared by those requests.
 * Weakly held: it goes with the view.
 */
const sessionIdentities = new WeakMap<SessionView, Identity>();

function identityOf(s: SessionView): Identity {
  let identity = sessionIdentities.get(s);
  if (identity === undefined) {
    identity = Object.freeze({
      sub: s.sub,
      email: s.email,
      emailVerified: s.email !== undefined,
      name: s.name,
      groups: s.groups,
      idp: Object.freeze({ id: s.idp, type: s.idpType }),
      amr: s.amr,
      authTime: s.authTime * 1000,
    });
    sessionIdentities.set(s, identity);
  }
  return identity;
}

function decideApp(
  input: CheckInput,
  ctx: EvaluateContext,
  app: App,
  host: string,
  tenant: Tenant | undefined,
  cert: ClientIdentity | undefined,
  cacheHit: boolean,
  trace: DecisionTrace | undefined,
): Decision {
  const base = { tenant: tenant?.name, identity: cert, cacheHit, app: app.name };
  const denyApp = (reason: DenyReason, detail: string, extra: Partial<Extract<Decision, { allow: false }>> = {}): Decision => ({
    allow: false,
    reason,
    status: extra.status ?? statusFor(reason),
    detail,
    ...base,
    ...extra,
  });

  let serviceToken: { readonly id: string } | undefined;
  if (input.serviceClientId !== undefined || input.serviceClientSecret !== undefined) {
    serviceToken = verifyServiceToken(ctx.serviceTokens ?? [], input.serviceClientId ?? '', input.serviceClientSecret ?? '');
    // Wrong machine credentials are refused outright rather than sent to a login page.
    if (!serviceToken) return denyApp('service_token_invalid', 'the service token client id or secret is not valid');
  }

  const session = input.session ?? { status: 'absent' };
  const identity = session.status === 'valid' ? identityOf(session.session) : undefined;
  const requestContext: RequestContext = {
    nowMs: ctx.nowMs,
    host,
    path: input.path,
    method: input.method,
    sourceIp: input.sourceAddress,
    country: input.country,
    certificate: cert ? policyView(cert) : undefined,
    serviceToken,
  };
  const verdict = evaluatePolicies(app.policies, identity, requestContext, trace);
  switch (verdict.outcome) {
    case 'bypass':
      return { allow: true, reason: 'policy_bypass', ...base, policy: verdict.policy };
    case 'allow':
      return {
        allow: true,
        reason: verdict.reason === 'policy_service_auth' ? 'policy_service_auth' : 'policy_allow',
        ...base,
        policy: verdict.policy,
        user: session.status === 'valid' && identity ? { session: session.session, token: session.token } : undefined,
        serviceToken: serviceToken?.id,
      };
    case 'login_required': {
      const why = session.status === 'invalid' ? ` (session ${session.reason}: ${session.detail})` : '';
      const who = session.status === 'invalid' ? session.session : undefined;
      if (isApiRequest(input, app) || !ctx.auth) return denyApp('login_required', `sign in to ${app.name} first${why}`, { session: who });
      const returnTo = `https://${input.authority}${input.path}`;
      const location = `${ctx.auth.origin}/login?app=${encodeURIComponent(app.name)}&rd=${encodeURIComponent(returnTo)}`;
      return denyApp('login_required', `sign in to ${app.name} first${why}`, { status: 302, location, session: who });
    }
    case 'deny':
      return denyApp(verdict.reason === 'policy_no_match' ? 'policy_no_match' : 'policy_deny', verdict.detail, {
        policy: verdict.policy,
        html: wantsHtml(input),
        session: session.status === 'valid' ? session.session : undefined,
      });
  }
}
