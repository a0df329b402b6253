import { createHash } from 'node:crypto';
import type { ParsedCert } from '../core/cert-parse.js';
import { parseCrlBundle, verifyCrlSignature, type ParsedCrl } from '../core/crl.js';
import type { MtlsMode, Tenant } from '../core/tenant.js';
import { parseCaBundle, selectTrustAnchors, type TrustProblem } from '../core/trust-anchor.js';
import { CONFIG_DEFAULTS, CONFIG_LIMITS, TENANT_LIMITS } from '../config/defaults.js';
import { isoTime } from '../config/trust.js';
import { checkExemptPath, checkTenantName, normalizeTenantHostname } from '../core/tenant-names.js';
import type { RevocationPolicy } from '../core/revocation-policy.js';
import { checkRevocationInput } from './tenant-revocation.js';
import type { PolicyInputs } from '../core/cert-policy.js';
import { checkCertificatePoliciesInput } from './tenant-policies.js';
import { TenantStoreError, type TenantInput } from './tenant-store.js';

/*
 * How a tenant from the admin API or a stored row is checked before it is stored or
 * served: the same value checkers as the YAML loader, so the two never disagree.
 */

const DAY_MS = 86_400_000;

/** A tenant input that passed {@link checkTenantInput}: the record to store and the parsed form to serve. */
export interface CheckedTenant {
  readonly name: string;
  readonly hostnames: readonly string[];
  readonly mode: MtlsMode;
  readonly caPem: string | null;
  /** Lowercase hex SHA-256 of `caPem`, so replicas parse a bundle shared by many tenants once. */
  readonly caSha256: string | null;
  readonly crlPems: readonly string[];
  readonly staleCrl: 'deny' | 'use';
  readonly exemptPaths: readonly string[];
  /** Undefined when the tenant has no network revocation checks. */
  readonly revocation: RevocationPolicy | undefined;
  /** Undefined when the tenant sets no certificate policy inputs. */
  readonly certificatePolicies: PolicyInputs | undefined;
  readonly tenant: Tenant;
  readonly warnings: readonly string[];
}

function invalid(field: string, message: string): TenantStoreError {
  return new TenantStoreError('ERR_TENANT_INVALID', `${field}: ${message}`, { field });
}

/**
 * Normalises and checks a tenant the way the YAML loader checks the config file,
 * with the same value checkers, so a tenant the API accepts would load from the
 * file too and the other way round. `nowMs` decides "expired"; it is an argument
 * so tests and the caller own the clock.
 *
 * Throws {@link TenantStoreError} with `ERR_TENANT_INVALID` (name, hostnames,
 * mode, paths), `ERR_CA_INVALID` (not PEM, or no certificate of the bundle is
 * a usable CA: each is not a CA, expired, not yet valid or has a weak key; a
 * bundle with some usable roots is accepted, the others set aside with a
 * warning) or
 * `ERR_CRL_INVALID` (does not parse, or is signed by another key than the
 * tenant's CA of that name).
 *
 * @example
 * ```ts
 * const checked = checkTenantInput({ name: 'acme', hostnames: ['acme.example'], mtls: { caPem } }, Date.now());
 * checked.tenant.mtls.trust?.roots.length; // 1
 * ```
 */
export function checkTenantInput(input: TenantInput, nowMs: number): CheckedTenant {
  const nameProblem = typeof input.name === 'string' ? checkTenantName(input.name) : 'name must be a string';
  if (nameProblem !== undefined) throw invalid('name', nameProblem);
  const hostnames = checkHostnames(input.hostnames);
  const mtls = input.mtls ?? {};
  const mode = mtls.mode ?? CONFIG_DEFAULTS.mtls.mode;
  if (mode !== 'require' && mode !== 'optional' && mode !== 'off') throw invalid('mtls.mode', `must be require, optional or off; got '${String(mode)}'`);
  const staleCrl = mtls.staleCrl ?? CONFIG_DEFAULTS.mtls.staleCrl;
  if (staleCrl !== 'deny' && staleCrl !== 'use') throw invalid('mtls.staleCrl', `must be deny or use; got '${String(staleCrl)}'`);
  const exemptPaths = checkExemptPaths(mtls.exemptPaths ?? []);
  const crlPems = mtls.crlPems ?? [];
  const warnings: string[] = [];
  let revocation: RevocationPolicy | undefined;
  if (mtls.revocation !== undefined && mtls.revocation !== null) {
    const checked = checkRevocationInput(mtls.revocation, 'mtls.revocation');
    if (!checked.ok) throw invalid(checked.problem.field, checked.problem.message);
    revocation = checked.policy;
  }
  let certificatePolicies: PolicyInputs | undefined;
  if (mtls.certificatePolicies !== undefined && mtls.certificatePolicies !== null) {
    const checked = checkCertificatePoliciesInput(mtls.certificatePolicies, 'mtls.certificatePolicies');
    if (!checked.ok) throw invalid(checked.problem.field, checked.problem.message);
    certificatePolicies = checked.inputs;
  }

  if (mode === 'off') {
    // The file loader ignores these with a warning; an API caller gets an error
    // instead, because a CA uploaded to a tenant that checks nothing is a mistake
    // worth stopping rather than a file line worth tolerating.
    if (mtls.caPem !== undefined) throw invalid('mtls.caPem', 'is given but mode is off, so client certificates would not be checked; set mode to require or optional, or leave caPem out');
    if (crlPems.length > 0) throw invalid('mtls.crlPems', 'are given but mode is off');
    if (revocation !== undefined) throw invalid('mtls.revocation', 'is given but mode is off, so no certificate would be checked for revocation; set mode to require or optional, or leave revocation out');
    if (certificatePolicies !== undefined) {
      throw invalid('mtls.certificatePolicies', 'are given but mode is off, so no certificate path would be checked against them; set mode to require or optional, or leave certificatePolicies out');
    }
    const tenant: Tenant = { name: input.name, hostnames, mtls: { mode, trust: null, exemptPaths } };
    return { name: input.name, hostnames, mode, caPem: null, caSha256: null, crlPems: [], staleCrl, exemptPaths, revocation: undefined, certificatePolicies: undefined, tenant, warnings };
  }
  if (mtls.caPem === undefined || mtls.caPem.trim() === '') {
    throw invalid('mtls.caPem', `is required when mode is ${mode}: give the PEM CA certificates that issue this tenant's client certificates, or set mode to off`);
  }
  const { roots, problems } = checkCaBundle(mtls.caPem, nowMs, warnings);
  const crls = checkCrls(crlPems, roots, nowMs, staleCrl, warnings);
  const policy = certificatePolicies ? { policy: certificatePolicies } : {};
  const trust = problems.length > 0 ? { roots, crls, staleCrl, problems, ...policy } : { roots, crls, staleCrl, ...policy };
  const tenant: Tenant = { name: input.name, hostnames, mtls: { mode, trust, exemptPaths, ...(revocation ? { revocation } : {}) } };
  return {
    name: input.name,
    hostnames,
    mode,
    caPem: mtls.caPem,
    caSha256: sha256Hex(mtls.caPem),
    crlPems: [...crlPems],
    staleCrl,
    exemptPaths,
    revocation,
    certificatePolicies,
    tenant,
    warnings,
  };
}

/**
 * Normalises one hostname for {@link TenantStore.addHostname} and friends, with the
 * config file's rules. Throws `ERR_TENANT_INVALID`.
 */
export function checkHostname(hostname: string, field = 'hostname'): string {
  const checked = typeof hostname === 'string' ? normalizeTenantHostname(hostname) : { ok: false as const, message: 'must be a string' };
  if (!checked.ok) throw invalid(field, checked.message);
  return checked.value;
}

function checkHostnames(hostnames: readonly string[]): string[] {
  if (!Array.isArray(hostnames) || hostnames.length === 0) throw invalid('hostnames', 'list at least one DNS name this tenant is served on');
  if (hostnames.length > TENANT_LIMITS.maxHostnames) throw invalid('hostnames', `at most ${TENANT_LIMITS.maxHostnames} hostnames; use a wildcard`);
  // Duplicates after normalisation (Acme.example and acme.example.) are one name.
  const out = new Set<string>();
  hostnames.forEach((h, i) => out.add(checkHostname(h, `hostnames[${i}]`)));
  return [...out].sort();
}

function checkExemptPaths(paths: readonly string[]): string[] {
  if (!Array.isArray(paths)) throw invalid('mtls.exemptPaths', 'must be a list of paths');
  if (paths.length > TENANT_LIMITS.maxExemptPaths) throw invalid('mtls.exemptPaths', `at most ${TENANT_LIMITS.maxExemptPaths} paths`);
  paths.forEach((p, i) => {
    const problem = typeof p === 'string' ? checkExemptPath(p) : 'must be a string';
    if (problem !== undefined) throw invalid(`mtls.exemptPaths[${i}]`, problem);
  });
  return [...new Set(paths)];
}

/**
 * The admin API's rule for CA bundles: a bundle with at least one usable root
 * is accepted, and each unusable certificate in it (expired, not yet valid, not
 * a CA, no keyCertSign, weak key, unparsable block) is set aside with a warning,
 * so a rotation bundle that still carries the old root can be uploaded. A bundle
 * with no usable root is refused: storing it would only make a tenant whose
 * devices are all denied.
 */
function checkCaBundle(pem: string, nowMs: number, warnings: string[]): { roots: ParsedCert[]; problems: TrustProblem[] } {
  const field = 'mtls.caPem';
  if (typeof pem !== 'string' || Buffer.byteLength(pem) > TENANT_LIMITS.maxCaPemBytes) {
    throw new TenantStoreError('ERR_CA_INVALID', `${field}: must be PEM text of at most ${TENANT_LIMITS.maxCaPemBytes} bytes`, { field });
  }
  const bundle = parseCaBundle(pem);
  if (bundle.certs.length === 0 && bundle.problems.every((p) => p.code === 'ca_no_certificate')) {
    throw new TenantStoreError('ERR_CA_INVALID', `${field}: no PEM certificate found; expected PEM blocks starting with -----BEGIN CERTIFICATE-----`, { field });
  }
  if (bundle.certs.length + bundle.problems.length > TENANT_LIMITS.maxCaCertificates) {
    throw new TenantStoreError('ERR_CA_INVALID', `${field}: at most ${TENANT_LIMITS.maxCaCertificates} certificates`, { field });
  }
  // The very check the YAML loader applies, so both front doors agree on what a trust anchor is.
  const selected = selectTrustAnchors(bundle.certs, { nowMs, minRsaBits: CONFIG_LIMITS.minRsaBits });
  const problems = [...bundle.problems, ...selected.problems];
  if (selected.usable.length === 0) {
    throw new TenantStoreError('ERR_CA_INVALID', `${field}: ${problems.map((p) => p.message).join('; ')}; no usable CA certificate is left in the bundle`, { field });
  }
  for (const p of problems) warnings.push(`${field}: ${p.message}; it is set aside and the bundle's other ${selected.usable.length} usable CA certificate(s) are used`);
  for (const c of selected.usable) {
    if (c.notAfter - nowMs < CONFIG_LIMITS.caExpiryWarningDays * DAY_MS) warnings.push(`CA certificate "${c.subject}" expires on ${isoTime(c.notAfter)}`);
  }
  return { roots: [...selected.usable], problems };
}

function checkCrls(pems: readonly string[], roots: readonly ParsedCert[], nowMs: number, staleCrl: 'deny' | 'use', warnings: string[]): ParsedCrl[] {
  if (!Array.isArray(pems)) throw invalid('mtls.crlPems', 'must be a list of PEM texts');
  if (pems.length > TENANT_LIMITS.maxCrls) throw invalid('mtls.crlPems', `at most ${TENANT_LIMITS.maxCrls} CRL texts`);
  const out: ParsedCrl[] = [];
  pems.forEach((pem, i) => {
    const field = `mtls.crlPems[${i}]`;
    if (typeof pem !== 'string' || Buffer.byteLength(pem) > TENANT_LIMITS.maxCrlPemBytes) {
      throw new TenantStoreError('ERR_CRL_INVALID', `${field}: must be PEM text of at most ${TENANT_LIMITS.maxCrlPemBytes} bytes`, { field });
    }
    let crls: ParsedCrl[];
    try {
      crls = parseCrlBundle(pem);
    } catch (err) {
      throw new TenantStoreError('ERR_CRL_INVALID', `${field}: ${(err as Error).message}`, { field, cause: err });
    }
    for (const crl of crls) {
      // As in the file loader: a CRL naming one of the tenant's CAs must verify
      // against it, or it would silently revoke nothing; one from another issuer
      // may belong to an intermediate clients present, so it is kept with a warning.
      const issuers = roots.filter((r) => r.subject === crl.issuer);
      if (issuers.length > 0 && !issuers.some((r) => verifyCrlSignature(crl, r))) {
        throw new TenantStoreError('ERR_CRL_INVALID', `${field}: the CRL issued by "${crl.issuer}" does not verify against the tenant's CA certificate of that name`, { field });
      }
      if (issuers.length === 0) warnings.push(`${field}: issued by "${crl.issuer}", not one of the tenant's CA certificates; its signature cannot be checked now`);
      if (crl.nextUpdate !== undefined && crl.nextUpdate < nowMs) {
        warnings.push(`${field}: stale since ${isoTime(crl.nextUpdate)}; with staleCrl ${staleCrl} ${staleCrl === 'deny' ? 'certificates from that issuer are refused until it is refreshed' : 'it is still used'}`);
      }
      out.push(crl);
    }
  });
  return out;
}

/** Lowercase hex SHA-256 of a text, the key under which parsed bundles are shared. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
