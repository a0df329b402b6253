import { createHash } from 'node:crypto';
import type { CertVerifier, PresentedCert } from './cert-verifier.js';
import type { CheckInput, ClientIdentity, Decision } from './decision.js';
import { XfccError } from './errors.js';
import { statusFor, type DenyReason } from './reasons.js';
import { normalizeHost, resolveTenant, type TenantIndex } from './tenant-index.js';
import type { Tenant } from './tenant.js';
import { parseXfcc, type XfccElement } from './xfcc.js';
import type { ParsedCert } from './cert-parse.js';

/** Everything a decision depends on besides the request; the caller owns the clock. */
export interface EvaluateContext {
  readonly tenants: TenantIndex;
  readonly verifier: CertVerifier;
  readonly xfcc: { readonly trustedHop: boolean; readonly maxElements: number };
  readonly nowMs: number;
}

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

function toIdentity(leaf: ParsedCert): ClientIdentity {
  return {
    subject: leaf.subject,
    issuer: leaf.issuer,
    serial: leaf.serial,
    fingerprint256: leaf.fingerprint256,
    dns: leaf.sans.dns,
    uri: leaf.sans.uri,
    email: leaf.sans.email,
    ip: leaf.sans.ip,
    notAfter: leaf.notAfter,
  };
}

type Presented = { ok: true; cert: PresentedCert | undefined } | { ok: false; decision: Decision };

/**
 * Picks the client certificate to judge. The peer certificate from the handshake
 * is authoritative; XFCC only contributes the intermediates, and only when its
 * current-hop element describes that same certificate. XFCC alone names the
 * client only when config says the hop that set it is trusted.
 */
function pickCertificate(input: CheckInput, ctx: EvaluateContext, tenant: Tenant): Presented {
  let element: XfccElement | undefined;
  if (input.xfcc !== undefined) {
    let elements: XfccElement[];
    try {
      elements = parseXfcc(input.xfcc);
    } catch (err) {
      const detail = err instanceof XfccError ? err.message : 'unparseable x-forwarded-client-cert';
      return { ok: false, decision: deny('xfcc_malformed', detail, tenant) };
    }
    if (elements.length > ctx.xfcc.maxElements) {
      return {
        ok: false,
        decision: deny(
          'xfcc_unexpected_elements',
          `x-forwarded-client-cert has ${elements.length} elements; this deployment sets at most ${ctx.xfcc.maxElements}`,
          tenant,
        ),
      };
    }
    // With SANITIZE_SET / APPEND_FORWARD the hop nearest to us appends last.
    element = elements[elements.length - 1];
  }

  if (input.peerCertificate !== undefined && input.peerCertificate !== '') {
    let chainPem: string | undefined;
    if (element && (element.cert !== undefined || element.hash !== undefined)) {
      const same =
        element.cert !== undefined
          ? normalizePem(element.cert) === normalizePem(input.peerCertificate)
          : element.hash === pemSha256(input.peerCertificate);
      if (!same) {
        return {
          ok: false,
          decision: deny('xfcc_mismatch', 'x-forwarded-client-cert describes a different certificate than the TLS peer', tenant),
        };
      }
      chainPem = element.chain;
    }
    return { ok: true, cert: { leafPem: input.peerCertificate, chainPem } };
  }

  if (element && ctx.xfcc.trustedHop && element.cert !== undefined) {
    return { ok: true, cert: { leafPem: element.cert, chainPem: element.chain } };
  }
  // An XFCC without a peer certificate from an untrusted hop is ignored: it could
  // have been written by the client.
  return { ok: true, cert: undefined };
}

function normalizePem(pem: string): string {
  return pem.replace(/\s+/g, '');
}

/** SHA-256 of the DER inside a single-certificate PEM, as Envoy writes XFCC `Hash`. */
function pemSha256(pem: string): string {
  const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return createHash('sha256').update(Buffer.from(body, 'base64')).digest('hex');
}

/**
 * Decides one request. Pure: the tenant table, verifier, options and time all
 * come from `ctx`, so every case can be replayed in a unit test.
 */
export function evaluate(input: CheckInput, ctx: EvaluateContext): Decision {
  const host = normalizeHost(input.authority);
  if (host === '') return deny('host_missing', 'request has no valid :authority / Host');
  const tenant = resolveTenant(ctx.tenants, host);
  if (!tenant) return deny('tenant_unknown', `no tenant serves ${host}`);

  if (input.sni !== undefined && input.sni !== '') {
    const sniHost = normalizeHost(input.sni);
    if (sniHost !== host) {
      const sniTenant = sniHost === '' ? undefined : resolveTenant(ctx.tenants, sniHost);
      // One tenant's connection (and the certificate it presented) must never carry
      // requests for another tenant's hostname, as HTTP/2 coalescing would allow.
      if (sniTenant !== tenant) {
        return deny('sni_host_mismatch', `TLS server name ${sniHost || input.sni} does not belong to the tenant serving ${host}`, tenant);
      }
    }
  }

  if (tenant.mtls.mode === 'off') {
    return { allow: true, reason: 'mtls_off', tenant: tenant.name, identity: undefined, cacheHit: false };
  }
  if (isExemptPath(input.path, tenant.mtls.exemptPaths)) {
    return { allow: true, reason: 'path_exempt', tenant: tenant.name, identity: undefined, cacheHit: false };
  }

  const picked = pickCertificate(input, ctx, tenant);
  if (!picked.ok) return picked.decision;
  if (!picked.cert) {
    if (tenant.mtls.mode === 'optional') {
      return { allow: true, reason: 'mtls_optional_absent', tenant: tenant.name, identity: undefined, cacheHit: false };
    }
    return deny('client_cert_missing', `${host} requires a client certificate`, tenant);
  }

  const verdict = ctx.verifier.verify(tenant, picked.cert, ctx.nowMs);
  if (!verdict.ok) {
    // A presented but invalid certificate is refused even in optional mode.
    return deny(verdict.reason, verdict.detail, tenant, verdict.presentedLeaf ? toIdentity(verdict.presentedLeaf) : undefined, verdict.cached);
  }
  const leaf = verdict.chain[0];
  if (!leaf) return deny('internal_error', 'verified chain is empty', tenant);
  return { allow: true, reason: 'mtls_verified', tenant: tenant.name, identity: toIdentity(leaf), cacheHit: verdict.cached };
}
