import type { RevocationMode, RevocationPolicy } from '../core/revocation-policy.js';
import { isFetchableUrl } from '../core/revocation-sources.js';
import type { Entry, NodeReader } from './node-reader.js';
import { REVOCATION_DEFAULTS } from './defaults.js';

/** Keys of `tenants[].mtls.revocation`. */
export const REVOCATION_KEYS = ['ocsp', 'ocsp_url', 'ocsp_nonce', 'crl', 'crl_urls', 'crl_distribution_points', 'intermediates'] as const;
export const REVOCATION_MODES: readonly RevocationMode[] = ['off', 'prefer', 'require'];

/**
 * The rules of `mtls.revocation`, shared by the YAML reader below and the
 * tenant stores' `checkTenantInput` (admin API, PostgreSQL), so a setting one
 * front door accepts the other accepts too. Each returns the problem, or
 * undefined when the value is fine.
 */
export const REVOCATION_RULES = {
  url(text: string): string | undefined {
    return isFetchableUrl(text) ? undefined : `must be an http:// or https:// URL without credentials (got '${text.slice(0, 80)}')`;
  },
  urlCount(count: number): string | undefined {
    return count > REVOCATION_DEFAULTS.crlMaxUrls ? `at most ${REVOCATION_DEFAULTS.crlMaxUrls} CRL URLs per tenant` : undefined;
  },
  /** Nothing would ever be fetched: `require` would deny everyone, `prefer` would check nothing. */
  crlSource(crl: RevocationMode, urls: number, distributionPoints: boolean, names: { urls: string; distributionPoints: string }): string | undefined {
    return crl !== 'off' && urls === 0 && !distributionPoints ? `crl is ${crl} but no CRL source is set: list ${names.urls} or set ${names.distributionPoints}: true` : undefined;
  },
} as const;

/** The policy once its parts are checked; undefined when both modes are off, so such a tenant does no revocation work at all. */
export function revocationPolicy(p: RevocationPolicy): RevocationPolicy | undefined {
  return p.ocsp === 'off' && p.crl === 'off' ? undefined : p;
}

function readUrl(reader: NodeReader, node: Entry['value'], field: string): string | undefined {
  const text = reader.string(node, field);
  if (text === undefined) return undefined;
  const problem = REVOCATION_RULES.url(text);
  if (problem !== undefined) {
    reader.issue(node, field, problem);
    return undefined;
  }
  return text;
}

/**
 * Reads `mtls.revocation` (docs/config.md). Absent, or with both modes off,
 * yields undefined: the tenant then has no network revocation checks and its
 * requests do no revocation work at all.
 */
export function readRevocation(entry: Entry | undefined, f: string, reader: NodeReader): RevocationPolicy | undefined {
  if (!entry) return undefined;
  const m = reader.mapping(entry.value, f, REVOCATION_KEYS);
  if (!m) return undefined;
  const mode = (key: 'ocsp' | 'crl'): RevocationMode => {
    const e = m.get(key);
    return (e && reader.oneOf(e.value, `${f}.${key}`, REVOCATION_MODES)) ?? REVOCATION_DEFAULTS.mode;
  };
  const ocsp = mode('ocsp');
  const crl = mode('crl');
  const urlEntry = m.get('ocsp_url');
  const ocspUrl = urlEntry ? readUrl(reader, urlEntry.value, `${f}.ocsp_url`) : undefined;
  const crlUrls: string[] = [];
  const listEntry = m.get('crl_urls');
  const items = (listEntry ? reader.list(listEntry.value, `${f}.crl_urls`, { single: true }) : []) ?? [];
  items.forEach((item, j) => {
    const url = readUrl(reader, item, `${f}.crl_urls[${j}]`);
    if (url !== undefined && !crlUrls.includes(url)) crlUrls.push(url);
  });
  const tooMany = REVOCATION_RULES.urlCount(crlUrls.length);
  if (tooMany !== undefined && listEntry) reader.issue(listEntry.value, `${f}.crl_urls`, tooMany);
  const dpEntry = m.get('crl_distribution_points');
  const crlDistributionPoints = (dpEntry && reader.boolean(dpEntry.value, `${f}.crl_distribution_points`)) ?? REVOCATION_DEFAULTS.crlDistributionPoints;
  const nonceEntry = m.get('ocsp_nonce');
  const ocspNonce = (nonceEntry && reader.boolean(nonceEntry.value, `${f}.ocsp_nonce`)) ?? REVOCATION_DEFAULTS.ocspNonce;
  const noSource = REVOCATION_RULES.crlSource(crl, crlUrls.length, crlDistributionPoints, { urls: 'crl_urls', distributionPoints: 'crl_distribution_points' });
  if (noSource !== undefined) reader.issue(m.get('crl')?.value ?? entry.value, `${f}.crl`, noSource);
  const chainEntry = m.get('intermediates');
  const intermediates = (chainEntry && reader.boolean(chainEntry.value, `${f}.intermediates`)) ?? REVOCATION_DEFAULTS.intermediates;
  return revocationPolicy({ ocsp, ocspUrl, ocspNonce, crl, crlUrls, crlDistributionPoints, ...(intermediates ? { intermediates } : {}) });
}
