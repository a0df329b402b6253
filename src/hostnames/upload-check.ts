/**
 * Checks a customer's uploaded certificate before it is stored: the PEM
 * parses, the key belongs to the leaf, the leaf covers the hostname and is a
 * TLS server certificate, every certificate of the chain is inside its
 * validity period, and the chain leads, signature by signature, from the
 * leaf to a root it carries or to one of the declared intermediates/roots.
 * Each failure has its own reason code (lifecycle.ts), so the customer is
 * told exactly what to fix.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { parseCertificateDerComplete, splitPemCertificates, verifySignedBy, type ParsedCert } from '../core/cert-parse.js';
import { HOSTNAME_DEFAULTS } from '../config/defaults.js';
import type { HostnameReason } from './lifecycle.js';
import { nameCovers } from './names.js';

const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const EKU_ANY = '2.5.29.37.0';
const ACCEPTED_CURVES = new Set(['prime256v1', 'secp384r1']);

export interface UploadInput {
  readonly hostname: string;
  /** Leaf first, then intermediates (a root may follow). */
  readonly certificateChainPem: string;
  readonly privateKeyPem: string;
  /** Intermediates or roots the chain may end at when it does not carry its root. */
  readonly anchorsPem?: string | undefined;
}

export interface CheckedUpload {
  /** The chain as served: leaf and intermediates, in order; a self-signed root is left out (clients have it). */
  readonly chainPem: string;
  /** The key re-encoded as PKCS#8 PEM. */
  readonly privateKeyPem: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly leafFingerprint256: string;
}

export type UploadCheck = { readonly ok: true; readonly value: CheckedUpload } | { readonly ok: false; readonly reason: HostnameReason; readonly message: string };

const fail = (reason: HostnameReason, message: string): UploadCheck => ({ ok: false, reason, message });

function parseAll(pem: string, what: string): ParsedCert[] | string {
  try {
    const ders = splitPemCertificates(pem);
    if (ders.length === 0) return `${what} has no -----BEGIN CERTIFICATE----- block`;
    return ders.map((der) => parseCertificateDerComplete(der));
  } catch (err) {
    return `${what} does not parse: ${(err as Error).message}`;
  }
}

function keyProblem(key: KeyObject): string | undefined {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return bits >= HOSTNAME_DEFAULTS.minRsaBits ? undefined : `an RSA key of ${bits} bits; at least ${HOSTNAME_DEFAULTS.minRsaBits} are needed`;
  }
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? 'unknown';
    return ACCEPTED_CURVES.has(curve) ? undefined : `an EC key on curve ${curve}; P-256 or P-384 are accepted`;
  }
  return `a ${type ?? 'unknown'} key; browsers accept RSA (2048 bits or more) and ECDSA P-256/P-384 server keys`;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Checks an upload at `nowMs`. Never throws on bad input. */
export function checkUpload(input: UploadInput, nowMs: number): UploadCheck {
  if (input.certificateChainPem.length + input.privateKeyPem.length > HOSTNAME_DEFAULTS.maxUploadBytes) {
    return fail('upload_invalid_pem', `the certificate chain and key together exceed ${HOSTNAME_DEFAULTS.maxUploadBytes} bytes`);
  }
  const chain = parseAll(input.certificateChainPem, 'the certificate chain');
  if (typeof chain === 'string') return fail('upload_invalid_pem', chain);
  if (chain.length > HOSTNAME_DEFAULTS.maxChainCertificates) return fail('upload_invalid_pem', `the chain has ${chain.length} certificates; at most ${HOSTNAME_DEFAULTS.maxChainCertificates} are accepted`);
  const anchors = input.anchorsPem === undefined || input.anchorsPem.trim() === '' ? [] : parseAll(input.anchorsPem, 'the declared intermediates');
  if (typeof anchors === 'string') return fail('upload_invalid_pem', anchors);
  const leaf = chain[0] as ParsedCert;

  let key: KeyObject;
  try {
    key = createPrivateKey({ key: input.privateKeyPem, format: 'pem' });
  } catch {
    // The parser's message can quote the input; say only what is wrong.
    return fail('upload_invalid_pem', 'the private key is not an unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)');
  }
  const problem = keyProblem(key);
  if (problem !== undefined) return fail('upload_invalid_key_unsupported', `the private key is ${problem}`);
  const fromKey = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const fromLeaf = leaf.publicKey.export({ type: 'spki', format: 'der' });
  if (!fromKey.equals(fromLeaf)) return fail('upload_invalid_key_mismatch', `the private key does not belong to the leaf certificate (${leaf.subject}); the leaf must come first in the chain`);

  if (leaf.isCa) return fail('upload_invalid_not_server_cert', `the first certificate (${leaf.subject}) is a CA certificate; the leaf (server) certificate must come first`);
  if (leaf.extKeyUsage !== undefined && !leaf.extKeyUsage.includes(EKU_SERVER_AUTH) && !leaf.extKeyUsage.includes(EKU_ANY)) {
    return fail('upload_invalid_not_server_cert', `the leaf's extended key usage (${leaf.extKeyUsage.join(', ')}) does not include TLS server authentication (${EKU_SERVER_AUTH})`);
  }
  const dnsNames = leaf.sans.dns;
  if (!dnsNames.some((n) => nameCovers(n, input.hostname))) {
    const listed = dnsNames.length === 0 ? 'it has no DNS subject alternative names' : `it names ${dnsNames.slice(0, 10).join(', ')}`;
    return fail('upload_invalid_hostname_mismatch', `the leaf certificate does not cover ${input.hostname}: ${listed}`);
  }

  for (const [i, cert] of chain.entries()) {
    const what = i === 0 ? 'the leaf' : `chain certificate ${i + 1} (${cert.subject})`;
    if (cert.notAfter <= nowMs) return fail('upload_invalid_expired', `${what} expired at ${iso(cert.notAfter)}`);
    if (cert.notBefore > nowMs) return fail('upload_invalid_not_yet_valid', `${what} is valid only from ${iso(cert.notBefore)}`);
  }

  const served: ParsedCert[] = [leaf];
  let used = 1;
  let current = leaf;
  for (let step = 0; ; step++) {
    if (anchors.some((a) => a.fingerprint256 === current.fingerprint256)) break;
    const anchor = anchors.find((a) => a.subject === current.issuer && verifySignedBy(current, a));
    if (anchor) {
      if (anchor.notAfter <= nowMs) return fail('upload_invalid_expired', `the declared certificate ${anchor.subject} that ends the chain expired at ${iso(anchor.notAfter)}`);
      break;
    }
    if (current.selfIssued && current !== leaf) {
      if (!verifySignedBy(current, current)) return fail('upload_invalid_chain_incomplete', `the root ${current.subject} does not verify its own signature`);
      // The root travels with the upload but is not served: clients have it or do not trust it either way.
      served.pop();
      break;
    }
    const next = chain[step + 1];
    if (next === undefined) {
      return fail('upload_invalid_chain_incomplete', `the chain ends at ${current.subject}, issued by ${current.issuer}, which is neither in the chain nor among the declared intermediates`);
    }
    if (next.subject !== current.issuer || !verifySignedBy(current, next)) {
      return fail('upload_invalid_chain_incomplete', `chain certificate ${step + 2} (${next.subject}) did not issue ${current.subject} (issuer ${current.issuer}); list the chain in order, leaf first`);
    }
    if (!next.isCa) return fail('upload_invalid_chain_incomplete', `chain certificate ${step + 2} (${next.subject}) is not a CA certificate`);
    served.push(next);
    used++;
    current = next;
  }
  if (used < chain.length) {
    return fail('upload_invalid_chain_incomplete', `the chain carries ${chain.length - used} certificate(s) after its end that are not part of the path`);
  }
  return {
    ok: true,
    value: {
      chainPem: served.map((c) => c.pem.trim()).join('\n') + '\n',
      privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      leafFingerprint256: leaf.fingerprint256,
    },
  };
}
