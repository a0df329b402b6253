import type { ParsedCert } from './cert-parse.js';
import type { PolicyInputs } from './cert-policy.js';
import type { ParsedCrl } from './crl.js';
import type { TrustProblem } from './trust-problem.js';
import type { RevocationPolicy } from './revocation-mode.js';

export type MtlsMode = 'require' | 'optional' | 'off';

/** The trust material of one tenant, parsed once when config loads. */
export interface TrustStore {
  /**
   * The tenant's trusted root (or pinned intermediate) certificates: only those
   * found usable when the tenant was loaded (see `trust-anchor.ts`). Empty when
   * none was: the tenant's devices are then denied `tenant_trust_unusable`.
   */
  readonly roots: readonly ParsedCert[];
  /** Why certificates or files of the tenant's trust data were set aside at load; absent or empty when none was. */
  readonly problems?: readonly TrustProblem[] | undefined;
  /** CRLs for this tenant; empty when none are configured. */
  readonly crls: readonly ParsedCrl[];
  /**
   * What to do when a configured CRL is past its nextUpdate: `deny` (default,
   * fail closed) or `use` (keep using the stale list).
   */
  readonly staleCrl: 'deny' | 'use';
  /**
   * The tenant's certificate policy inputs (`mtls.certificate_policies`, RFC 5280 §6.1.1);
   * absent means RFC 5280's defaults: any policy, none required explicitly.
   */
  readonly policy?: PolicyInputs | undefined;
}

/** A tenant as the decision core sees it: plain data, already validated. */
export interface Tenant {
  readonly name: string;
  /** Lowercase hostnames; exact names and `*.suffix` wildcards. */
  readonly hostnames: readonly string[];
  readonly mtls: {
    readonly mode: MtlsMode;
    /** Null only when mode is `off`. */
    readonly trust: TrustStore | null;
    /** Request paths (exact, or prefix when ending in `/*`) that skip the certificate check. */
    readonly exemptPaths: readonly string[];
    /** Network revocation checks (OCSP, fetched CRLs); absent means none. */
    readonly revocation?: RevocationPolicy | undefined;
  };
}
