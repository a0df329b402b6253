/**
 * The admin API's JSON form of tenants (snake_case, times as RFC 3339) and
 * back to the store's {@link TenantInput}. The one place that knows both.
 */
import { parseCertificateBundle } from '../core/cert-parse.js';
import { parseCrlBundle } from '../core/crl.js';
import type { MtlsMode } from '../core/tenant.js';
import { parseCaBundle, reportTrust, selectTrustAnchors, type TrustProblem, type TrustReport } from '../core/trust-anchor.js';
import { CONFIG_LIMITS } from '../config/defaults.js';
import type { TenantInput, TenantRecord } from '../stores/tenant-store.js';
import type { RevocationMode, RevocationPolicy } from '../core/revocation-policy.js';
import { revocationToInput, type RevocationInput } from '../stores/tenant-revocation.js';
import type { PolicyInputs } from '../core/cert-policy.js';
import { policiesToInput, type CertificatePoliciesInput } from '../stores/tenant-policies.js';

/** `mtls.revocation` on the wire: the config file's own keys. */
export interface RevocationJson {
  readonly ocsp?: RevocationMode;
  readonly ocsp_url?: string | null;
  readonly ocsp_nonce?: boolean;
  readonly crl?: RevocationMode;
  readonly crl_urls?: readonly string[];
  readonly crl_distribution_points?: boolean;
  readonly intermediates?: boolean;
}

/** `mtls.certificate_policies` on the wire: the config file's own keys. */
export interface CertificatePoliciesJson {
  readonly accept?: readonly string[];
  readonly explicit?: boolean;
  readonly inhibit_mapping?: boolean;
  readonly inhibit_any?: boolean;
}

/** `mtls` as a client writes it. */
export interface MtlsBody {
  readonly mode?: MtlsMode;
  readonly ca_pem?: string;
  readonly crl_pems?: readonly string[];
  readonly stale_crl?: 'deny' | 'use';
  readonly exempt_paths?: readonly string[];
  /** Null removes the tenant's revocation checks. */
  readonly revocation?: RevocationJson | null;
  /** Null returns the tenant to RFC 5280's defaults. */
  readonly certificate_policies?: CertificatePoliciesJson | null;
}

export interface TenantBody {
  readonly name?: string;
  readonly hostnames: readonly string[];
  readonly mtls?: MtlsBody;
}

export interface TenantJson {
  readonly name: string;
  readonly hostnames: readonly string[];
  readonly mtls: {
    readonly mode: MtlsMode;
    readonly ca_pem: string | null;
    readonly crl_pems: readonly string[];
    readonly stale_crl: 'deny' | 'use';
    readonly exempt_paths: readonly string[];
    /** Null when the tenant has no network revocation checks. */
    readonly revocation: Required<RevocationJson> | null;
    /** Null when the tenant sets none (RFC 5280's defaults). */
    readonly certificate_policies: Required<CertificatePoliciesJson> | null;
  };
  readonly version: number;
  readonly created_at: string;
  readonly updated_at: string;
}

export interface CaCertificateJson {
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly fingerprint256: string;
  readonly not_before: string;
  readonly not_after: string;
}

export function toTenantJson(r: TenantRecord): TenantJson {
  return {
    name: r.name,
    hostnames: r.hostnames,
    mtls: {
      mode: r.mtls.mode,
      ca_pem: r.mtls.caPem,
      crl_pems: r.mtls.crlPems,
      stale_crl: r.mtls.staleCrl,
      exempt_paths: r.mtls.exemptPaths,
      revocation: r.mtls.revocation ? toRevocationJson(r.mtls.revocation) : null,
      certificate_policies: r.mtls.certificatePolicies ? toPoliciesJson(r.mtls.certificatePolicies) : null,
    },
    version: r.version,
    created_at: new Date(r.createdAt).toISOString(),
    updated_at: new Date(r.updatedAt).toISOString(),
  };
}

/** What a stored CA bundle holds, for people reading `tenant show`. Empty when there is none (mode off). */
export function describeCaBundle(pem: string | null): CaCertificateJson[] {
  if (pem === null) return [];
  // Block by block, as replicas load it: a block edited into garbage hides only itself.
  try {
    return parseCaBundle(pem).certs.map((c) => ({
      subject: c.subject,
      issuer: c.issuer,
      serial: c.serial,
      fingerprint256: c.fingerprint256,
      not_before: new Date(c.notBefore).toISOString(),
      not_after: new Date(c.notAfter).toISOString(),
    }));
  } catch {
    return [];
  }
}

/** SHA-256 fingerprints of a PEM bundle for audit summaries; never the PEM itself. */
export function fingerprintsOf(pem: string | null | undefined): string[] | 'unparseable' {
  if (pem === null || pem === undefined) return [];
  try {
    return parseCertificateBundle(pem).map((c) => c.fingerprint256);
  } catch {
    return 'unparseable';
  }
}

function toRevocationJson(p: RevocationPolicy): Required<RevocationJson> {
  return { ocsp: p.ocsp, ocsp_url: p.ocspUrl ?? null, ocsp_nonce: p.ocspNonce, crl: p.crl, crl_urls: p.crlUrls, crl_distribution_points: p.crlDistributionPoints, intermediates: p.intermediates === true };
}

function fromRevocationJson(r: RevocationJson | null | undefined): RevocationInput | null | undefined {
  if (r === undefined || r === null) return r;
  return { ocsp: r.ocsp, ocspUrl: r.ocsp_url, ocspNonce: r.ocsp_nonce, crl: r.crl, crlUrls: r.crl_urls, crlDistributionPoints: r.crl_distribution_points, intermediates: r.intermediates };
}

function toPoliciesJson(p: PolicyInputs): Required<CertificatePoliciesJson> {
  return { accept: p.initialPolicySet, explicit: p.initialExplicitPolicy, inhibit_mapping: p.initialPolicyMappingInhibit, inhibit_any: p.initialAnyPolicyInhibit };
}

function fromPoliciesJson(p: CertificatePoliciesJson | null | undefined): CertificatePoliciesInput | null | undefined {
  if (p === undefined || p === null) return p;
  return { accept: p.accept, explicit: p.explicit, inhibitMapping: p.inhibit_mapping, inhibitAny: p.inhibit_any };
}

export function fromMtlsBody(m: MtlsBody | undefined): TenantInput['mtls'] {
  if (m === undefined) return undefined;
  return {
    mode: m.mode,
    caPem: m.ca_pem,
    crlPems: m.crl_pems,
    staleCrl: m.stale_crl,
    exemptPaths: m.exempt_paths,
    revocation: fromRevocationJson(m.revocation),
    certificatePolicies: fromPoliciesJson(m.certificate_policies),
  };
}

export function fromTenantBody(name: string, b: TenantBody): TenantInput {
  return { name, hostnames: b.hostnames, mtls: fromMtlsBody(b.mtls) };
}

/** The input that stores `record` unchanged; the start of every partial update. */
export function recordToInput(r: TenantRecord): TenantInput {
  return {
    name: r.name,
    hostnames: r.hostnames,
    mtls: {
      mode: r.mtls.mode,
      caPem: r.mtls.caPem ?? undefined,
      crlPems: r.mtls.crlPems,
      staleCrl: r.mtls.staleCrl,
      exemptPaths: r.mtls.exemptPaths,
      revocation: r.mtls.revocation ? revocationToInput(r.mtls.revocation) : null,
      certificatePolicies: r.mtls.certificatePolicies ? policiesToInput(r.mtls.certificatePolicies) : null,
    },
  };
}

/** `trust` of GET /v1/tenants/{name}: the status its devices are checked with, and why. */
export interface TrustJson {
  readonly status: TrustReport['status'];
  readonly problems: ReadonlyArray<{ readonly code: string; readonly message: string }>;
}

/**
 * The tenant's trust status at `nowMs`, judged exactly as the store serving it
 * judges it (`trust-anchor.ts`): what the store reports when it knows, else the
 * stored PEM read the way a replica loads it.
 */
export function trustOf(r: TenantRecord, nowMs: number): TrustJson {
  const report = r.trust ?? judgeStored(r, nowMs);
  return { status: report.status, problems: report.problems.map((p) => ({ code: p.code, message: p.message })) };
}

function judgeStored(r: TenantRecord, nowMs: number): TrustReport {
  if (r.mtls.mode === 'off' || r.mtls.caPem === null) return reportTrust(null, nowMs);
  const bundle = parseCaBundle(r.mtls.caPem);
  const selected = selectTrustAnchors(bundle.certs, { nowMs, minRsaBits: CONFIG_LIMITS.minRsaBits });
  const problems: TrustProblem[] = [...bundle.problems, ...selected.problems];
  r.mtls.crlPems.forEach((pem, i) => {
    try {
      parseCrlBundle(pem);
    } catch (err) {
      problems.push({ code: 'crl_invalid', message: `stored CRL ${i + 1} does not parse: ${err instanceof Error ? err.message : String(err)}` });
    }
  });
  const roots = problems.some((p) => p.code === 'crl_invalid') ? [] : selected.usable;
  return reportTrust({ roots, crls: [], staleCrl: r.mtls.staleCrl, problems }, nowMs);
}
