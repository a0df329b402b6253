/**
 * The two fixed names of ACME TLS-ALPN-01 (RFC 8737), shared by the responder that
 * answers the CA (src/hostnames) and the Envoy listener that routes to it (src/xds).
 */

/** The ALPN protocol a CA offers, alone, when validating (RFC 8737 §6.2). */
export const ACME_TLS_ALPN_PROTOCOL = 'acme-tls/1';

/** id-pe-acmeIdentifier: the critical extension holding SHA-256 of the key authorization (RFC 8737 §6.1). */
export const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';
