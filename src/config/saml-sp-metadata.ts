/**
 * Reads the parts of a SAML service provider's metadata that bouncer needs to
 * issue assertions to it (SAML metadata §2.4.4 SPSSODescriptor). Used by the
 * config loader for `saas_apps[].saml.metadata_file`.
 */
import { X509Certificate } from 'node:crypto';
import { toPem } from '../core/pem.js';
import { BINDING_POST } from '../core/saml-names.js';
import { attr, descendants, parseGuardedXml, textOf, type XmlElement } from '../core/xml.js';

const NS_MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const NS_DS = 'http://www.w3.org/2000/09/xmldsig#';

/** What an SP's metadata says. */
export interface SpMetadata {
  entityId: string;
  /** HTTP-POST AssertionConsumerService locations; the `isDefault` one (else the lowest `index`) first. */
  acsUrls: string[];
  /** The first signing certificate (KeyDescriptor use="signing" or without `use`), PEM. */
  signingCertPem: string | undefined;
  /** The `AuthnRequestsSigned` attribute, when present. */
  authnRequestsSigned: boolean | undefined;
}

/** Result of {@link parseSpMetadata}: the metadata, or a sentence saying what is wrong. */
export type SpMetadataResult = { ok: true; value: SpMetadata } | { ok: false; message: string };

/**
 * Parses SP metadata, refusing DOCTYPEs, several roots and oversized input (the same
 * guard SAML messages go through), and anything that is not exactly one SP.
 *
 * @example
 * const parsed = parseSpMetadata(readFileSync('sp.xml', 'utf8'));
 * if (parsed.ok) console.log(parsed.value.entityId, parsed.value.acsUrls);
 */
export function parseSpMetadata(xml: string): SpMetadataResult {
  try {
    const doc = parseGuardedXml(xml, 'SP metadata');
    const root = doc.documentElement;
    if (root?.namespaceURI !== NS_MD || root.localName !== 'EntityDescriptor') {
      return { ok: false, message: 'is not SAML metadata for one entity: its root element must be an md:EntityDescriptor' };
    }
    const entityId = attr(root, 'entityID')?.trim();
    if (!entityId) return { ok: false, message: 'has no entityID on its EntityDescriptor' };
    const sps = descendants(root, NS_MD, 'SPSSODescriptor');
    if (sps.length !== 1) return { ok: false, message: sps.length === 0 ? "has no SPSSODescriptor: it describes no service provider (is it an IdP's metadata?)" : 'has more than one SPSSODescriptor' };
    const sp = sps[0] as XmlElement;

    const acs = descendants(sp, NS_MD, 'AssertionConsumerService')
      .filter((e) => attr(e, 'Binding') === BINDING_POST)
      .map((e) => ({ location: attr(e, 'Location')?.trim() ?? '', isDefault: attr(e, 'isDefault') === 'true', index: Number(attr(e, 'index') ?? '0') }))
      .filter((e) => e.location !== '');
    // SAML metadata §2.2.3: isDefault wins, then the lowest index.
    acs.sort((a, b) => Number(b.isDefault) - Number(a.isDefault) || a.index - b.index);
    if (acs.length === 0) return { ok: false, message: 'has no AssertionConsumerService with the HTTP-POST binding, the only one bouncer sends assertions over' };

    let signingCertPem: string | undefined;
    for (const kd of descendants(sp, NS_MD, 'KeyDescriptor')) {
      const use = attr(kd, 'use');
      if (use !== undefined && use !== 'signing') continue;
      const certEl = descendants(kd, NS_DS, 'X509Certificate')[0];
      if (!certEl) continue;
      const b64 = textOf(certEl).replace(/\s+/g, '');
      const pem = toPem(Buffer.from(b64, 'base64'), 'CERTIFICATE');
      try {
        new X509Certificate(pem);
      } catch {
        return { ok: false, message: 'has a signing KeyDescriptor whose X509Certificate is not a certificate' };
      }
      signingCertPem = pem;
      break;
    }
    const signed = attr(sp, 'AuthnRequestsSigned');
    return {
      ok: true,
      value: {
        entityId,
        acsUrls: [...new Set(acs.map((a) => a.location))],
        signingCertPem,
        authnRequestsSigned: signed === undefined ? undefined : signed === 'true' || signed === '1',
      },
    };
  } catch (err) {
    return { ok: false, message: `cannot be read: ${err instanceof Error ? err.message : String(err)}` };
  }
}
