/**
 * Which client certificate a request presents: the TLS peer certificate, with
 * intermediates from the current-hop XFCC element when it describes the same
 * certificate, or the XFCC certificate alone from a trusted hop.
 */
import { createHash } from 'node:crypto';
import type { CertReading } from './cert-verifier.js';
import type { CheckInput } from './decision.js';
import { XfccError } from './errors.js';
import { parseXfcc, type XfccElement } from './xfcc.js';

/** How far XFCC is believed (config: `authz.xfcc`). */
export interface XfccOptions {
  readonly trustedHop: boolean;
  readonly maxElements: number;
}

/** The peer certificate's PEM, decoding Envoy's URL-encoded form when that is what the adapter passed. */
function peerPem(input: CheckInput): string | undefined {
  if (input.peerCertificate !== undefined || input.peerCertificateEncoded === undefined) return input.peerCertificate;
  try {
    return decodeURIComponent(input.peerCertificateEncoded);
  } catch {
    // Left encoded: the certificate parser then rejects it as malformed.
    return input.peerCertificateEncoded;
  }
}

/**
 * Picks the client certificate to judge. The peer certificate from the handshake
 * is authoritative; XFCC only contributes the intermediates, and only when its
 * current-hop element describes that same certificate. XFCC alone names the
 * client only when config says the hop that set it is trusted.
 *
 * Depends on nothing but the request's two certificate fields and the XFCC
 * options (no tenant, no clock), so the verifier may remember its result.
 */
export function pickCertificate(input: CheckInput, options: XfccOptions): CertReading {
  let element: XfccElement | undefined;
  if (input.xfcc !== undefined) {
    let elements: XfccElement[];
    try {
      elements = parseXfcc(input.xfcc);
    } catch (err) {
      const detail = err instanceof XfccError ? err.message : 'unparseable x-forwarded-client-cert';
      return { kind: 'refused', reason: 'xfcc_malformed', detail };
    }
    if (elements.length > options.maxElements) {
      return {
        kind: 'refused',
        reason: 'xfcc_unexpected_elements',
        detail: `x-forwarded-client-cert has ${elements.length} elements; this deployment sets at most ${options.maxElements}`,
      };
    }
    // With SANITIZE_SET / APPEND_FORWARD the hop nearest to us appends last.
    element = elements[elements.length - 1];
  }

  const peer = peerPem(input);
  if (peer !== undefined && peer !== '') {
    let chainPem: string | undefined;
    if (element && (element.cert !== undefined || element.hash !== undefined)) {
      const same =
        element.cert !== undefined
          ? normalizePem(element.cert) === normalizePem(peer)
          : element.hash === pemSha256(peer);
      if (!same) {
        return { kind: 'refused', reason: 'xfcc_mismatch', detail: 'x-forwarded-client-cert describes a different certificate than the TLS peer' };
      }
      chainPem = element.chain;
    }
    return { kind: 'presented', cert: { leafPem: peer, chainPem } };
  }

  if (element && options.trustedHop && element.cert !== undefined) {
    return { kind: 'presented', cert: { leafPem: element.cert, chainPem: element.chain } };
  }
  // A certificate named in XFCC, with no peer certificate beside it and a hop we do
  // not trust: never used, but refused rather than read as "no certificate", since
  // it is what a gateway that keeps the peer certificate out of the check looks
  // like (Istio's CUSTOM provider, Envoy Gateway's SecurityPolicy), and
  // client_cert_missing would hide that from whoever runs it.
  if (element && (element.cert !== undefined || element.hash !== undefined) && !options.trustedHop) {
    return {
      kind: 'refused',
      reason: 'xfcc_untrusted',
      detail:
        'x-forwarded-client-cert names a client certificate, but Envoy sent no TLS peer certificate and this deployment does not trust XFCC alone (authz.xfcc.trusted_hop; see docs/envoy.md)',
    };
  }
  return { kind: 'none' };
}

function normalizePem(pem: string): string {
  return pem.replace(/\s+/g, '');
}

/** SHA-256 of the DER inside a single-certificate PEM, as Envoy writes XFCC `Hash`. */
function pemSha256(pem: string): string {
  const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return createHash('sha256').update(Buffer.from(body, 'base64')).digest('hex');
}
