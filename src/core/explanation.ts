/**
 * The answer of `bouncer access explain` (CLI and `POST /v1/access/explain`):
 * a decision as ext_authz would make it, with the tenant, app and policy that
 * made it, and how every policy of the app came out. Pure: the authz layer
 * runs the decision with a {@link TraceCollector} and hands the pieces here.
 */
import type { ClientIdentity, Decision } from './decision.js';
import type { DecisionTrace, MtlsTraceOutcome } from './evaluate.js';
import type { CompiledPolicy, PolicyAction, PolicyOutcome } from './policy/index.js';
import type { Reason } from './reasons.js';

/** Claims an operator asserts instead of presenting a session token; nothing here is verified. */
export interface AssertedClaims {
  readonly email?: string | undefined;
  readonly sub?: string | undefined;
  readonly name?: string | undefined;
  readonly groups?: readonly string[] | undefined;
  readonly idp?: string | undefined;
  readonly amr?: readonly string[] | undefined;
  /** When the user signed in at the IdP, ms since the epoch; default: the explained moment. */
  readonly loginTimeMs?: number | undefined;
}

/** An operator's description of one request, as the CLI and the admin API take it. */
export interface ExplainQuery {
  readonly host: string;
  /** Path with optional query string; default `/`. */
  readonly path?: string | undefined;
  /** Default `GET`. */
  readonly method?: string | undefined;
  /** TLS server name; default: the host (what a browser sends). */
  readonly sni?: string | undefined;
  readonly sourceIp?: string | undefined;
  /** Default `text/html` (a browser): a missing login then explains as the 302 a browser gets. */
  readonly accept?: string | undefined;
  /** PEM: the client certificate first, then any intermediates the client would send. */
  readonly certificatePem?: string | undefined;
  readonly sessionToken?: string | undefined;
  readonly claims?: AssertedClaims | undefined;
  readonly serviceToken?: { readonly clientId: string; readonly clientSecret: string } | undefined;
  /** A service token id asserted instead of credentials: policies see it as a verified token; not verified. */
  readonly serviceTokenId?: string | undefined;
  /** ISO 3166 alpha-2, as the trusted country header would carry it. */
  readonly country?: string | undefined;
}

/** One policy of the app, in evaluation order. */
export interface ExplainedPolicy {
  readonly name: string;
  readonly action: PolicyAction;
  /** `not_evaluated`: a policy earlier in precedence decided first, or the request never reached the policies. */
  readonly outcome: PolicyOutcome | 'not_evaluated';
  readonly why: string;
  /** The policy whose outcome is the decision's. */
  readonly decided: boolean;
}

/** Where the session came from, and whether bouncer checked it. */
export interface ExplainedSession {
  /** `token`: a session JWT verified like the cookie; `asserted`: claims given by the operator, not verified. */
  readonly source: 'none' | 'token' | 'asserted';
  readonly verified: boolean;
  /** `valid`, `absent`, or the reason a token was refused (`session_expired`, `session_revoked`…). */
  readonly status: string;
  readonly detail?: string | undefined;
  readonly sub?: string | undefined;
  readonly email?: string | undefined;
  readonly groups?: readonly string[] | undefined;
  readonly idp?: string | undefined;
  readonly amr?: readonly string[] | undefined;
  readonly auth_time?: string | undefined;
}

export interface Explanation {
  readonly decision: 'allow' | 'deny';
  /** HTTP status ext_authz would answer with (200 on allow). */
  readonly status: number;
  readonly reason: Reason;
  readonly detail: string;
  /** For 302 answers (login). */
  readonly location: string | undefined;
  readonly tenant: string | undefined;
  readonly app: string | undefined;
  readonly policy: string | undefined;
  /** The moment the decision was made for (ISO 8601). */
  readonly at: string;
  readonly request: {
    readonly host: string;
    readonly path: string;
    readonly method: string;
    readonly sni: string | undefined;
    readonly source_ip: string | undefined;
    readonly country: string | undefined;
  };
  /** The tenant's client-certificate step; undefined when the host has no tenant or the request stopped before it. */
  readonly mtls: { readonly ok: boolean; readonly reason: Reason; readonly detail: string | undefined } | undefined;
  /** The certificate as the decision saw it (verified, or refused with the reason above). */
  readonly certificate: { readonly subject: string; readonly issuer: string; readonly serial: string; readonly fingerprint256: string; readonly not_after: string } | undefined;
  readonly session: ExplainedSession;
  /** A service token's id, once verified against the configured tokens. */
  readonly service_token: { readonly client_id: string; readonly id: string | undefined; readonly asserted: boolean } | undefined;
  readonly policies: readonly ExplainedPolicy[];
  /** Caveats on what this explanation could not see or check. */
  readonly notes: readonly string[];
}

interface TracedPolicy {
  readonly name: string;
  readonly action: PolicyAction;
  readonly outcome: PolicyOutcome;
  readonly why: string;
}

/** Records what {@link evaluate} reports; one per explained request. */
export class TraceCollector implements DecisionTrace {
  readonly policies: TracedPolicy[] = [];
  mtlsOutcome: MtlsTraceOutcome | undefined;

  policy(name: string, action: PolicyAction, outcome: PolicyOutcome, why: string): void {
    this.policies.push({ name, action, outcome, why });
  }

  mtls(outcome: MtlsTraceOutcome): void {
    this.mtlsOutcome = outcome;
  }
}

/** Evaluation order of actions, as policy/evaluate.ts applies it. */
const PRECEDENCE: readonly PolicyAction[] = ['bypass', 'service_auth', 'deny', 'allow'];

/** Every policy of the app in evaluation order, with its traced outcome or `not_evaluated`. */
export function explainPolicies(policies: readonly CompiledPolicy[], trace: TraceCollector, decision: Decision): ExplainedPolicy[] {
  const ordered = PRECEDENCE.flatMap((a) => policies.filter((p) => p.action === a));
  const traced = new Map(trace.policies.map((t) => [`${t.action}\u0000${t.name}`, t]));
  return ordered.map((p) => {
    const t = traced.get(`${p.action}\u0000${p.name}`);
    const decided = decision.policy === p.name && t?.outcome === 'matched';
    if (!t) {
      return { name: p.name, action: p.action, outcome: 'not_evaluated', why: trace.policies.length > 0 ? 'a policy earlier in precedence decided first' : 'the request was decided before the policies', decided: false };
    }
    return { name: p.name, action: p.action, outcome: t.outcome, why: t.why, decided };
  });
}

function describeCertificate(c: ClientIdentity | undefined): Explanation['certificate'] {
  if (!c) return undefined;
  return { subject: c.subject, issuer: c.issuer, serial: c.serial, fingerprint256: c.fingerprint256, not_after: new Date(c.notAfter).toISOString() };
}

/** The pieces the authz layer gathered around one decision. */
export interface ExplanationParts {
  readonly decision: Decision;
  readonly trace: TraceCollector;
  readonly nowMs: number;
  readonly request: Explanation['request'];
  readonly appPolicies: readonly CompiledPolicy[];
  readonly session: ExplainedSession;
  readonly serviceToken: { readonly clientId: string; readonly id: string | undefined; readonly asserted: boolean } | undefined;
  readonly notes: readonly string[];
}

/** Assembles the explanation; everything but the layout comes from the decision and its trace. */
export function buildExplanation(p: ExplanationParts): Explanation {
  const d = p.decision;
  const m = p.trace.mtlsOutcome;
  return {
    decision: d.allow ? 'allow' : 'deny',
    status: d.allow ? 200 : d.status,
    reason: d.reason,
    detail: d.allow ? allowDetail(d) : d.detail,
    location: d.allow ? undefined : d.location,
    tenant: d.tenant,
    app: d.app,
    policy: d.policy,
    at: new Date(p.nowMs).toISOString(),
    request: p.request,
    mtls: m === undefined ? undefined : m.ok ? { ok: true, reason: m.reason, detail: undefined } : { ok: false, reason: m.reason, detail: m.detail },
    certificate: describeCertificate(d.identity ?? (m?.ok === true ? m.identity : undefined)),
    session: p.session,
    service_token:
      p.serviceToken === undefined
        ? undefined
        : { client_id: p.serviceToken.clientId, id: d.allow ? (d.serviceToken ?? p.serviceToken.id) : p.serviceToken.id, asserted: p.serviceToken.asserted },
    policies: explainPolicies(p.appPolicies, p.trace, d),
    notes: p.notes,
  };
}

function allowDetail(d: Extract<Decision, { allow: true }>): string {
  switch (d.reason) {
    case 'policy_allow':
      return `allowed by policy "${d.policy ?? '?'}"`;
    case 'policy_bypass':
      return `bypassed by policy "${d.policy ?? '?'}" (no login, no identity headers)`;
    case 'policy_service_auth':
      return `service token accepted by policy "${d.policy ?? '?'}"`;
    case 'mtls_verified':
      return 'the client certificate is valid for this tenant; the host has no app policies';
    case 'mtls_optional_absent':
      return "no client certificate, which this tenant's optional mTLS allows; the host has no app policies";
    case 'mtls_off':
      return 'this tenant does not check client certificates; the host has no app policies';
    case 'path_exempt':
      return "the path is exempt from the tenant's mTLS check; the host has no app policies";
    case 'auth_domain':
      return 'the login service itself';
  }
}
