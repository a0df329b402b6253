import { LRUCache } from 'lru-cache';
import { parseCrlBundle, type ParsedCrl } from '../../core/crl.js';
import type { MtlsMode, Tenant } from '../../core/tenant.js';
import { parseCaBundle, selectTrustAnchors, type ParsedBundle, type TrustProblem } from '../../core/trust-anchor.js';
import type { RevocationPolicy } from '../../core/revocation-policy.js';
import type { TenantRecord } from '../tenant-store.js';
import { sha256Hex } from '../tenant-input-check.js';
import { checkRevocationInput, type RevocationProblem } from '../tenant-revocation.js';
import type { PolicyInputs } from '../../core/cert-policy.js';
import { checkCertificatePoliciesInput, type PoliciesProblem } from '../tenant-policies.js';

/**
 * The columns that make up one tenant, hostnames and CRLs folded in with ARRAY
 * subqueries so that loading a cold tenant is a single round trip.
 */
const TENANT_COLUMNS = `t.name, t.version::text AS version, t.mtls_mode, t.stale_crl, t.exempt_paths, t.revocation, t.certificate_policies,
  ca.pem AS ca_pem, ca.sha256 AS ca_sha256,
  ARRAY(SELECT hn.hostname FROM tenant_hostnames hn WHERE hn.tenant_name = t.name ORDER BY hn.hostname) AS hostnames,
  ARRAY(SELECT c.pem FROM tenant_crls c WHERE c.tenant_name = t.name ORDER BY c.position) AS crl_pems,
  t.created_at, t.updated_at`;

export const SQL = {
  /** $1: the host and its one-label wildcard form; the caller prefers the exact row. */
  lookupHost: `SELECT h.hostname, ${TENANT_COLUMNS}
FROM tenant_hostnames h JOIN tenants t ON t.name = h.tenant_name
LEFT JOIN tenant_ca_bundles ca ON ca.tenant_name = t.name
WHERE h.hostname = ANY($1::text[])`,
  getTenant: `SELECT ${TENANT_COLUMNS}
FROM tenants t LEFT JOIN tenant_ca_bundles ca ON ca.tenant_name = t.name
WHERE t.name = $1`,
  listTenants: `SELECT t.name, t.mtls_mode, t.version::text AS version,
  ARRAY(SELECT hn.hostname FROM tenant_hostnames hn WHERE hn.tenant_name = t.name ORDER BY hn.hostname) AS hostnames
FROM tenants t WHERE ($1::text IS NULL OR t.name > $1) ORDER BY t.name LIMIT $2`,
  /** Current owner and version of each of $1, to find cached entries that went stale during an outage. */
  owners: `SELECT h.hostname, t.name, t.version::text AS version
FROM tenant_hostnames h JOIN tenants t ON t.name = h.tenant_name
WHERE h.hostname = ANY($1::text[])`,
  /** `xmax = 0` holds only for a row this statement inserted, which tells create from replace. */
  upsertTenant: `INSERT INTO tenants (name, mtls_mode, stale_crl, exempt_paths, revocation, certificate_policies) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (name) DO UPDATE SET mtls_mode = EXCLUDED.mtls_mode, stale_crl = EXCLUDED.stale_crl,
  exempt_paths = EXCLUDED.exempt_paths, revocation = EXCLUDED.revocation, certificate_policies = EXCLUDED.certificate_policies, version = tenants.version + 1, updated_at = now()
RETURNING (xmax = 0) AS created`,
  lockTenant: 'SELECT name FROM tenants WHERE name = $1 FOR UPDATE',
  bumpVersion: 'UPDATE tenants SET version = version + 1, updated_at = now() WHERE name = $1',
  hostnamesOf: 'SELECT hostname FROM tenant_hostnames WHERE tenant_name = $1',
  takenHostnames: 'SELECT hostname, tenant_name FROM tenant_hostnames WHERE hostname = ANY($1::text[]) AND tenant_name <> $2 ORDER BY hostname',
  dropOtherHostnames: 'DELETE FROM tenant_hostnames WHERE tenant_name = $1 AND NOT (hostname = ANY($2::text[]))',
  /** A plain insert (no ON CONFLICT): a name taken concurrently must fail the transaction, not vanish. */
  insertHostnames: 'INSERT INTO tenant_hostnames (hostname, tenant_name) SELECT h, $1 FROM unnest($2::text[]) AS h WHERE NOT (h = ANY($3::text[]))',
  deleteHostname: 'DELETE FROM tenant_hostnames WHERE tenant_name = $1 AND hostname = $2',
  deleteCa: 'DELETE FROM tenant_ca_bundles WHERE tenant_name = $1',
  insertCa: 'INSERT INTO tenant_ca_bundles (tenant_name, pem, sha256) VALUES ($1, $2, $3)',
  deleteCrls: 'DELETE FROM tenant_crls WHERE tenant_name = $1',
  insertCrls: 'INSERT INTO tenant_crls (tenant_name, position, pem) SELECT $1, c.ord, c.pem FROM unnest($2::text[]) WITH ORDINALITY AS c(pem, ord)',
  deleteTenant: 'DELETE FROM tenants WHERE name = $1',
  /** One round trip for all chunks; delivered to listeners at commit, never for a rolled-back change. */
  notify: 'SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p',
} as const;

/** A tenant row as {@link SQL}.getTenant returns it. */
export interface TenantRow {
  name: string;
  /** bigint, sent as text so no precision is lost. */
  version: string;
  mtls_mode: string;
  stale_crl: string;
  exempt_paths: string[];
  /** `mtls.revocation` in its input form (src/stores/tenant-revocation.ts); null: none. */
  revocation: unknown;
  /** `mtls.certificate_policies` in its input form (src/stores/tenant-policies.ts); null: RFC 5280's defaults. */
  certificate_policies: unknown;
  ca_pem: string | null;
  ca_sha256: string | null;
  hostnames: string[];
  crl_pems: string[];
  created_at: Date;
  updated_at: Date;
}

export interface HostRow extends TenantRow {
  hostname: string;
}

export interface SummaryRow {
  name: string;
  mtls_mode: string;
  version: string;
  hostnames: string[];
}

export interface OwnerRow {
  hostname: string;
  name: string;
  version: string;
}

/** The database's CHECK constraints allow only these; the narrowing keeps the type honest. */
export function toMode(text: string): MtlsMode {
  if (text === 'require' || text === 'optional' || text === 'off') return text;
  throw new Error(`unexpected mtls_mode '${text}' in the tenants table`);
}

function toStaleCrl(text: string): 'deny' | 'use' {
  if (text === 'deny' || text === 'use') return text;
  throw new Error(`unexpected stale_crl '${text}' in the tenants table`);
}

/**
 * The stored `revocation` column, checked again with the config file's rules:
 * a row edited by hand into something the API would refuse is a problem of
 * that tenant, never a setting silently dropped.
 */
export function storedRevocation(value: unknown): { policy: RevocationPolicy | undefined; problem: RevocationProblem | undefined } {
  if (value === null || value === undefined) return { policy: undefined, problem: undefined };
  const checked = checkRevocationInput(value, 'revocation');
  return checked.ok ? { policy: checked.policy, problem: undefined } : { policy: undefined, problem: checked.problem };
}

/** The stored `certificate_policies` column, checked again with the config file's rules, as {@link storedRevocation}. */
export function storedPolicies(value: unknown): { inputs: PolicyInputs | undefined; problem: PoliciesProblem | undefined } {
  if (value === null || value === undefined) return { inputs: undefined, problem: undefined };
  const checked = checkCertificatePoliciesInput(value, 'certificate_policies');
  return checked.ok ? { inputs: checked.inputs, problem: undefined } : { inputs: undefined, problem: checked.problem };
}

export function toRecord(row: TenantRow): TenantRecord {
  const { policy } = storedRevocation(row.revocation);
  const { inputs } = storedPolicies(row.certificate_policies);
  return {
    name: row.name,
    hostnames: row.hostnames,
    mtls: {
      mode: toMode(row.mtls_mode),
      caPem: row.ca_pem,
      crlPems: row.crl_pems,
      staleCrl: toStaleCrl(row.stale_crl),
      exemptPaths: row.exempt_paths,
      ...(policy ? { revocation: policy } : {}),
      ...(inputs ? { certificatePolicies: inputs } : {}),
    },
    version: Number(row.version),
    createdAt: row.created_at.getTime(),
    updatedAt: row.updated_at.getTime(),
  };
}

/** Problems of stored settings that leave the tenant without any usable root. */
const FAIL_CLOSED: ReadonlySet<TrustProblem['code']> = new Set(['crl_invalid', 'revocation_invalid', 'certificate_policies_invalid']);

/**
 * Turns stored rows into the {@link Tenant} the decision core uses. Parses are
 * kept by content hash, so 10,000 tenants sharing one CA parse it once. Each
 * load judges the roots at the store's clock (see `trust-anchor.ts`): a root
 * that has expired since it was stored, or a bundle or CRL edited by hand into
 * something unusable, degrades that tenant alone. A tenant left with no usable
 * root is served with none, so its devices are denied `tenant_trust_unusable`;
 * it never makes the lookup fail.
 */
export class TenantParser {
  private readonly parsed: LRUCache<string, ParsedBundle | readonly ParsedCrl[]>;

  constructor(
    maxBundles: number,
    private readonly now: () => number,
    private readonly minRsaBits: number,
  ) {
    this.parsed = new LRUCache({ max: maxBundles });
  }

  toTenant(row: TenantRow): Tenant {
    const mode = toMode(row.mtls_mode);
    const exemptPaths = row.exempt_paths;
    if (mode === 'off' || row.ca_pem === null) return { name: row.name, hostnames: row.hostnames, mtls: { mode, trust: null, exemptPaths } };
    const bundle = this.bundle(row.ca_pem, row.ca_sha256 ?? sha256Hex(row.ca_pem));
    const selected = selectTrustAnchors(bundle.certs, { nowMs: this.now(), minRsaBits: this.minRsaBits });
    const problems: TrustProblem[] = [...bundle.problems, ...selected.problems];
    const crls: ParsedCrl[] = [];
    const revocation = storedRevocation(row.revocation);
    if (revocation.problem) {
      problems.push({ code: 'revocation_invalid', message: `stored revocation settings are invalid: ${revocation.problem.field}: ${revocation.problem.message}` });
    }
    const policies = storedPolicies(row.certificate_policies);
    if (policies.problem) {
      problems.push({ code: 'certificate_policies_invalid', message: `stored certificate policy settings are invalid: ${policies.problem.field}: ${policies.problem.message}` });
    }
    row.crl_pems.forEach((pem, i) => {
      try {
        crls.push(...this.crls(pem));
      } catch (err) {
        problems.push({ code: 'crl_invalid', message: `stored CRL ${i + 1} does not parse: ${err instanceof Error ? err.message : String(err)}` });
      }
    });
    // A CRL, or revocation or policy settings, that cannot be used would revoke or
    // require nothing: fail closed for this tenant.
    const roots = problems.some((p) => FAIL_CLOSED.has(p.code)) ? [] : selected.usable;
    const staleCrl = toStaleCrl(row.stale_crl);
    const policy = policies.inputs ? { policy: policies.inputs } : {};
    const trust = problems.length > 0 ? { roots, crls, staleCrl, problems, ...policy } : { roots, crls, staleCrl, ...policy };
    return { name: row.name, hostnames: row.hostnames, mtls: { mode, trust, exemptPaths, ...(revocation.policy ? { revocation: revocation.policy } : {}) } };
  }

  private bundle(pem: string, sha256: string): ParsedBundle {
    const key = `bundle:${sha256}`;
    const hit = this.parsed.get(key) as ParsedBundle | undefined;
    if (hit) return hit;
    const bundle = parseCaBundle(pem);
    this.parsed.set(key, bundle);
    return bundle;
  }

  private crls(pem: string): readonly ParsedCrl[] {
    const key = `crl:${sha256Hex(pem)}`;
    const hit = this.parsed.get(key) as readonly ParsedCrl[] | undefined;
    if (hit) return hit;
    const crls = parseCrlBundle(pem);
    this.parsed.set(key, crls);
    return crls;
  }
}
