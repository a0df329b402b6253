/**
 * A customer hostname as Envoy serves it: the contract between the hostname
 * lifecycle (src/hostnames: upload or ACME, keys at rest) and the xDS server
 * (src/xds), which turns each entry into an SNI filter chain and SDS secrets.
 */
export interface ServedHostname {
  /** Lower-case DNS name as matched against SNI; may be a wildcard `*.example.com`. */
  readonly hostname: string;
  /** The tenant whose client-certificate CAs Envoy asks for on this hostname. */
  readonly tenant: string;
  /** PEM, leaf first, then intermediates. */
  readonly certificateChainPem: string;
  /** PEM private key of the leaf. Decrypted, held in memory only, never logged. */
  readonly privateKeyPem: string;
  /** The tenant's CA certificates (PEM), sent as the client-CA list in the CertificateRequest. */
  readonly clientCaPems: readonly string[];
  /** Changes whenever the certificate, the key or the client-CA list changes. */
  readonly version: string;
}

/** Which hostnames changed since the last notification. */
export interface HostnameCatalogChange {
  /** Added or changed hostnames (their new entries are in the catalog). */
  readonly upserted: readonly string[];
  /** Hostnames no longer served. */
  readonly removed: readonly string[];
}

/** The hostnames that are ready to serve (state `active`, or renewing with a valid certificate). */
export interface HostnameCatalog {
  list(): readonly ServedHostname[];
  get(hostname: string): ServedHostname | undefined;
  /** Called after every change; returns the unsubscribe function. */
  subscribe(listener: (change: HostnameCatalogChange) => void): () => void;
}
