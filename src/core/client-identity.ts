/** What a verified leaf certificate tells the rest of the decision, built once per certificate. */
import type { ParsedCert } from './cert-parse.js';
import type { ClientIdentity } from './decision.js';
import type { RequestCertificate } from './identity.js';

/**
 * A leaf's identity, built once per parsed certificate: verdicts are cached,
 * so one leaf object serves every request of its device, and the identity is
 * immutable. Weakly held: it goes with the leaf.
 */
const identities = new WeakMap<ParsedCert, ClientIdentity>();

export function toIdentity(leaf: ParsedCert): ClientIdentity {
  let identity = identities.get(leaf);
  if (identity === undefined) {
    identity = Object.freeze({
      subject: leaf.subject,
      issuer: leaf.issuer,
      serial: leaf.serial,
      fingerprint256: leaf.fingerprint256,
      dns: leaf.sans.dns,
      uri: leaf.sans.uri,
      email: leaf.sans.email,
      ip: leaf.sans.ip,
      notAfter: leaf.notAfter,
    });
    identities.set(leaf, identity);
  }
  return identity;
}

/** What policies see of a verified certificate, once per identity (see {@link toIdentity}). */
const policyViews = new WeakMap<ClientIdentity, RequestCertificate>();

export function policyView(cert: ClientIdentity): RequestCertificate {
  let view = policyViews.get(cert);
  if (view === undefined) {
    view = Object.freeze({ fingerprint256: cert.fingerprint256, subject: cert.subject, commonName: commonNameOf(cert.subject), dns: cert.dns, uri: cert.uri, email: cert.email });
    policyViews.set(cert, view);
  }
  return view;
}

function commonNameOf(subject: string): string | undefined {
  const m = /(?:^|,\s*)CN=([^,]+)/.exec(subject);
  return m?.[1]?.trim();
}
