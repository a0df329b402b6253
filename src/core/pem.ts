/**
 * The one PEM encoder (RFC 7468): certificates, CRLs and keys are written with
 * it, so every PEM bouncer produces has the same armour and line length.
 */

/**
 * Wraps DER in PEM armour with 64-character lines (RFC 7468 §2).
 *
 * @example
 * toPem(cert.rawData, 'CERTIFICATE');
 * toPem(crl.der, 'X509 CRL');
 */
export function toPem(der: Uint8Array | ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  return `-----BEGIN ${label}-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`;
}
