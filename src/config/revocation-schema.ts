import type { RevocationMode, RevocationPolicy } from '../core/revocation-policy.js';
import { isFetchableUrl } from '../core/revocation-sources.js';
import type { Entry, NodeReader } from './node-reader.js';
import { REVOCATION_DEFAULTS } from './defaults.js';

/** Keys of `tenants[].mtls.revocation`. */
export const REVOCATION_KEYS = ['ocsp', 'ocsp_url', 'ocsp_nonce', 'crl', 'crl_urls', 'crl_distribution_points', 'intermediates'] as const;
export const REVOCATION_MODES: readonly RevocationMode[] = ['off', 'prefer', 'require'];

function readUrl(reader: NodeReader, node: Entry['value'], field: string): string | undefined {
  const text = reader.string(node, field);
  if (text === undefined) return undefined;
  if (!isFetchableUrl(text)) {
    reader.issue(node, field, `must be an http:// or https:// URL without credentials (got '${text.slice(0, 80)}')`);
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
  (listEntry ? reader.list(listEntry.value, `${f}.crl_urls`, { single: true }) : [])?.forEach((item, j) => {
    const url = readUrl(reader, item, `${f}.crl_urls[${j}]`);
    if (url !== undefined && !crlUrls.includes(url)) crlUrls.push(url);
  });
  const dpEntry = m.get('crl_distribution_points');
  const crlDistributionPoints = (dpEntry && reader.boolean(dpEntry.value, `${f}.crl_distribution_points`)) ?? REVOCATION_DEFAULTS.crlDistributionPoints;
  const nonceEntry = m.get('ocsp_nonce');
  const ocspNonce = (nonceEntry && reader.boolean(nonceEntry.value, `${f}.ocsp_nonce`)) ?? REVOCATION_DEFAULTS.ocspNonce;
  if (crl !== 'off' && crlUrls.length === 0 && !crlDistributionPoints) {
    // Nothing would ever be fetched: `require` would deny everyone, `prefer` would check nothing.
    reader.issue(m.get('crl')?.value ?? entry.value, `${f}.crl`, `crl is ${crl} but no CRL source is set: list crl_urls or set crl_distribution_points: true`);
  }
  const chainEntry = m.get('intermediates');
  const intermediates = (chainEntry && reader.boolean(chainEntry.value, `${f}.intermediates`)) ?? REVOCATION_DEFAULTS.intermediates;
  if (ocsp === 'off' && crl === 'off') return undefined;
  return { ocsp, ocspUrl, ocspNonce, crl, crlUrls, crlDistributionPoints, ...(intermediates ? { intermediates } : {}) };
}
