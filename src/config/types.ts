import type { Tenant } from '../core/tenant.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Validated, defaulted and frozen configuration. Produced only by `loadConfig`. */
export interface BouncerConfig {
  /** Absolute path of the config file this came from. */
  readonly source: string;
  /** Every file the config depends on (config itself, CA bundles, CRLs), absolute; watched for reload. */
  readonly files: readonly string[];
  readonly listen: {
    readonly authz: HostPort;
    readonly http: HostPort;
  };
  readonly authz: {
    readonly xfcc: {
      /**
       * Accept the XFCC `Cert` as the client certificate when Envoy reports no
       * peer certificate (TLS ended at a trusted hop in front of Envoy). Off by
       * default: a client could otherwise send its own header.
       */
      readonly trustedHop: boolean;
      /** How many XFCC elements the deployment produces; more is a denial. */
      readonly maxElements: number;
    };
    readonly cache: {
      /** Bound on cached certificate verification results. */
      readonly maxEntries: number;
      /** A cached result is reused at most this long (and never past the certificate's expiry). */
      readonly ttlSeconds: number;
    };
  };
  readonly log: {
    readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  };
  readonly tenants: readonly Tenant[];
  /** Problems that do not stop bouncer but need an operator (a CA about to expire, a stale CRL). */
  readonly warnings: readonly string[];
}
