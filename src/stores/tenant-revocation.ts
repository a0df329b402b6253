/**
 * A tenant's `mtls.revocation` as the tenant stores take it (admin API,
 * PostgreSQL rows): checked with the config file's own rules
 * (`config/revocation-schema.ts`), so a setting accepted through one front
 * door loads through the other.
 */
import type { RevocationMode, RevocationPolicy } from '../core/revocation-policy.js';
import { REVOCATION_DEFAULTS } from '../config/defaults.js';
import { REVOCATION_MODES, REVOCATION_RULES, revocationPolicy } from '../config/revocation-schema.js';

/** `mtls.revocation` as a client writes it; what is left out takes the config file's default. */
export interface RevocationInput {
  readonly ocsp?: RevocationMode | undefined;
  readonly ocspUrl?: string | null | undefined;
  readonly ocspNonce?: boolean | undefined;
  readonly crl?: RevocationMode | undefined;
  readonly crlUrls?: readonly string[] | undefined;
  readonly crlDistributionPoints?: boolean | undefined;
  /** Check the path's CA certificates too, not only the leaf (`mtls.revocation.intermediates`). */
  readonly intermediates?: boolean | undefined;
}

/** The first thing wrong with a revocation input: the field (under `field`) and why. */
export interface RevocationProblem {
  readonly field: string;
  readonly message: string;
}

export type RevocationCheck = { readonly ok: true; readonly policy: RevocationPolicy | undefined } | { readonly ok: false; readonly problem: RevocationProblem };

const KEYS: ReadonlySet<string> = new Set(['ocsp', 'ocspUrl', 'ocspNonce', 'crl', 'crlUrls', 'crlDistributionPoints', 'intermediates']);

/**
 * Checks `input` (plain data of unknown shape: an API body or a stored JSON
 * column) and returns the policy, undefined when both modes are off. Never
 * throws.
 *
 * @example
 * ```ts
 * const checked = checkRevocationInput({ ocsp: 'require' }, 'mtls.revocation');
 * if (checked.ok) checked.policy?.ocsp; // 'require'
 * ```
 */
export function checkRevocationInput(input: unknown, field: string): RevocationCheck {
  const fail = (at: string, message: string): RevocationCheck => ({ ok: false, problem: { field: at, message } });
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return fail(field, 'must be an object');
  const raw = input as Record<string, unknown>;
  const unknown = Object.keys(raw).find((k) => !KEYS.has(k));
  if (unknown !== undefined) return fail(`${field}.${unknown}`, `unknown field; expected one of ${[...KEYS].join(', ')}`);
  const mode = (key: 'ocsp' | 'crl'): RevocationMode | string => {
    const v = raw[key];
    if (v === undefined) return REVOCATION_DEFAULTS.mode as RevocationMode;
    return typeof v === 'string' && (REVOCATION_MODES as readonly string[]).includes(v) ? (v as RevocationMode) : `must be one of ${REVOCATION_MODES.join(', ')}; got ${JSON.stringify(v)?.slice(0, 40)}`;
  };
  const ocsp = mode('ocsp');
  if (!isMode(ocsp)) return fail(`${field}.ocsp`, ocsp);
  const crl = mode('crl');
  if (!isMode(crl)) return fail(`${field}.crl`, crl);
  let ocspUrl: string | undefined;
  if (raw.ocspUrl !== undefined && raw.ocspUrl !== null) {
    if (typeof raw.ocspUrl !== 'string') return fail(`${field}.ocspUrl`, 'must be a string');
    const problem = REVOCATION_RULES.url(raw.ocspUrl);
    if (problem !== undefined) return fail(`${field}.ocspUrl`, problem);
    ocspUrl = raw.ocspUrl;
  }
  const flag = (key: 'ocspNonce' | 'crlDistributionPoints' | 'intermediates', dflt: boolean): boolean | undefined => {
    const v = raw[key];
    return v === undefined ? dflt : typeof v === 'boolean' ? v : undefined;
  };
  const ocspNonce = flag('ocspNonce', REVOCATION_DEFAULTS.ocspNonce);
  if (ocspNonce === undefined) return fail(`${field}.ocspNonce`, 'must be true or false');
  const crlDistributionPoints = flag('crlDistributionPoints', REVOCATION_DEFAULTS.crlDistributionPoints);
  if (crlDistributionPoints === undefined) return fail(`${field}.crlDistributionPoints`, 'must be true or false');
  const intermediates = flag('intermediates', REVOCATION_DEFAULTS.intermediates);
  if (intermediates === undefined) return fail(`${field}.intermediates`, 'must be true or false');
  const list = raw.crlUrls ?? [];
  if (!Array.isArray(list)) return fail(`${field}.crlUrls`, 'must be a list of URLs');
  const crlUrls: string[] = [];
  for (const [j, url] of list.entries()) {
    if (typeof url !== 'string') return fail(`${field}.crlUrls[${j}]`, 'must be a string');
    const problem = REVOCATION_RULES.url(url);
    if (problem !== undefined) return fail(`${field}.crlUrls[${j}]`, problem);
    if (!crlUrls.includes(url)) crlUrls.push(url);
  }
  const tooMany = REVOCATION_RULES.urlCount(crlUrls.length);
  if (tooMany !== undefined) return fail(`${field}.crlUrls`, tooMany);
  const noSource = REVOCATION_RULES.crlSource(crl, crlUrls.length, crlDistributionPoints, { urls: 'crlUrls', distributionPoints: 'crlDistributionPoints' });
  if (noSource !== undefined) return fail(`${field}.crl`, noSource);
  return { ok: true, policy: revocationPolicy({ ocsp, ocspUrl, ocspNonce, crl, crlUrls, crlDistributionPoints, ...(intermediates ? { intermediates } : {}) }) };
}

function isMode(v: string): v is RevocationMode {
  return (REVOCATION_MODES as readonly string[]).includes(v);
}

/** The stored (and API) form of a policy: every field written out, so a later change of a default does not change a stored tenant. */
export function revocationToInput(p: RevocationPolicy): Required<RevocationInput> {
  return { ocsp: p.ocsp, ocspUrl: p.ocspUrl ?? null, ocspNonce: p.ocspNonce, crl: p.crl, crlUrls: [...p.crlUrls], crlDistributionPoints: p.crlDistributionPoints, intermediates: p.intermediates === true };
}
