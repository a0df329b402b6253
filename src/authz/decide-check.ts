/**
 * One Check's decision, from the decoded CheckRequest to the core's Decision:
 * the tenant lookup (PostgreSQL), the session gate, then the pure `evaluate`.
 * The ext_authz server answers with it, and `bouncer access explain` runs the
 * very same steps with a trace attached, so the two cannot disagree.
 */
import type { CheckInput, Decision } from '../core/decision.js';
import { evaluate, type DecisionTrace } from '../core/evaluate.js';
import type { App, AuthSettings, SessionState } from '../core/app.js';
import type { CertVerifier } from '../core/cert-verifier.js';
import type { RevocationView } from '../core/revocation-policy.js';
import type { ServiceTokenEntry } from '../core/service-token.js';
import type { HostIndex, TenantIndex } from '../core/tenant-index.js';
import { toCheckInput, withSession, type CheckRequestMessage } from './check-request.js';
import { bindLoginRedirect } from './login-binding.js';
import { runSessionGate, type SessionGateDeps } from './session-gate.js';
import { andThen, type SyncOrAsync } from './sync-or-async.js';
import { lookupTenants, type StoreTenants } from './tenant-lookup.js';

/** What one decision needs from config; swapped as a whole on reload. */
export interface AuthzState {
  /** The config file's tenants; ignored when `tenantStore` is set. */
  readonly tenants: TenantIndex;
  /** Tenants in PostgreSQL (`store.postgres`), looked up per request through the store's cache. */
  readonly tenantStore?: StoreTenants | undefined;
  readonly verifier: CertVerifier;
  /** Network revocation (OCSP, fetched CRLs) for tenants with `mtls.revocation`. */
  readonly revocation?: RevocationView | undefined;
  readonly xfcc: { readonly trustedHop: boolean; readonly maxElements: number };
  /** Apps, login service and session machinery; absent when no app is configured. */
  readonly identity?:
    | {
        readonly apps: HostIndex<App>;
        readonly auth: AuthSettings;
        readonly serviceTokens: readonly ServiceTokenEntry[];
        readonly countryHeader: string | undefined;
        readonly gate: SessionGateDeps;
      }
    | undefined;
}

/** The decision, the input it was made on, and the request headers (for the response's identity headers). */
export interface CheckOutcome {
  readonly decision: Decision;
  readonly input: CheckInput;
  readonly headers: Readonly<Record<string, string>>;
}

/** What explain adds: a trace, and optionally a session asserted by the operator instead of read from a cookie. */
export interface ExplainHooks {
  readonly trace: DecisionTrace;
  readonly assertedSession?: SessionState | undefined;
}

/** `value`, unless it is a promise: then its result, or the call's abort reason if the call was abandoned meanwhile. */
function whileWanted<T>(value: SyncOrAsync<T>, call: { readonly signal: AbortSignal } | undefined): SyncOrAsync<T> {
  if (call === undefined || !(value instanceof Promise)) return value;
  return value.then((v) => {
    call.signal.throwIfAborted();
    return v;
  });
}

/**
 * Synchronous unless a tenant or a session token has to be looked up or
 * verified first. After each wait the call's signal is checked: once its
 * deadline has passed (the caller was answered DEADLINE_EXCEEDED) or the
 * caller left, no further step runs.
 */
export function decideCheck(
  state: AuthzState,
  request: CheckRequestMessage,
  clock: () => number,
  call: { readonly signal: AbortSignal } | undefined,
  explain?: ExplainHooks,
): SyncOrAsync<CheckOutcome> {
  const identity = state.identity;
  const { input: raw, headers, cookie } = toCheckInput(request, { countryHeader: identity?.countryHeader });
  const trace = explain?.trace;
  const nowMs = clock();
  const judgeAt = (input: CheckInput, tenants: TenantIndex, at: number): CheckOutcome => {
    const decision = evaluate(
      input,
      {
        tenants,
        verifier: state.verifier,
        revocation: state.revocation,
        xfcc: state.xfcc,
        nowMs: at,
        apps: identity?.apps,
        auth: identity?.auth,
        serviceTokens: identity?.serviceTokens,
      },
      trace,
    );
    // A redirect to sign in carries the browser binding; allows pass through untouched.
    return { decision: decision.allow ? decision : bindLoginRedirect(decision, cookie), input, headers };
  };
  // A certificate's first revocation status (mtls.revocation: require) is
  // waited for once, bounded by the fetch's own timeout; only this call
  // waits, and the decision is then taken again from the filled cache.
  const judge = (input: CheckInput, tenants: TenantIndex): SyncOrAsync<CheckOutcome> => {
    const first = judgeAt(input, tenants, nowMs);
    const settled = first.decision.allow ? undefined : first.decision.revocationSettled;
    if (!settled) return first;
    return andThen(whileWanted(settled, call), () => judgeAt(input, tenants, clock()));
  };
  const afterGate = (tenants: TenantIndex): SyncOrAsync<CheckOutcome> => {
    if (!identity) return judge(raw, tenants);
    if (explain?.assertedSession !== undefined) return judge(withSession(raw, explain.assertedSession), tenants);
    return andThen(whileWanted(runSessionGate(raw, cookie, identity.gate, nowMs, call), call), (gate) =>
      gate.kind === 'answer' ? { decision: gate.decision, input: raw, headers } : judge(withSession(raw, gate.session), tenants),
    );
  };
  if (!state.tenantStore) return afterGate(state.tenants);
  return andThen(whileWanted(lookupTenants(raw, state.tenantStore, identity, call), call), (looked) => (looked.kind === 'deny' ? { decision: looked.decision, input: raw, headers } : afterGate(looked.tenants)));
}
