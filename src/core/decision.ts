import type { SessionState, SessionView } from './app.js';
import type { AllowReason, DenyReason } from './reasons.js';

/** Identity taken from a verified client certificate. */
export interface ClientIdentity {
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly fingerprint256: string;
  readonly dns: readonly string[];
  readonly uri: readonly string[];
  readonly email: readonly string[];
  readonly ip: readonly string[];
  readonly notAfter: number;
}

/** The plain request the decision core judges; only the Envoy adapter knows CheckRequest. */
export interface CheckInput {
  readonly requestId: string;
  /** `:authority` (or Host) as received, port and case not yet normalized. */
  readonly authority: string;
  /** TLS SNI of the downstream connection, when Envoy reported one. */
  readonly sni: string | undefined;
  readonly method: string;
  /** Request path including any query string. */
  readonly path: string;
  /** URL-decoded PEM of the peer certificate Envoy saw in the handshake. */
  readonly peerCertificate: string | undefined;
  /**
   * The same certificate still URL-encoded, as Envoy sends it. Adapters pass
   * this instead of `peerCertificate` so that decoding (a kilobyte or two per
   * request) happens only when the certificate is actually read, not on every
   * check whose reading is remembered.
   */
  readonly peerCertificateEncoded?: string | undefined;
  /** Raw x-forwarded-client-cert value, when present. */
  readonly xfcc: string | undefined;
  readonly sourceAddress: string | undefined;
  /** The app session cookie, as the adapter verified it; absent on hosts without apps. */
  readonly session?: SessionState | undefined;
  /** `Accept` header, to tell browsers (login redirect, HTML) from API clients (401 JSON). */
  readonly accept?: string | undefined;
  /** Service token credentials, when the client sent them. */
  readonly serviceClientId?: string | undefined;
  readonly serviceClientSecret?: string | undefined;
  /** Country from the configured trusted header. */
  readonly country?: string | undefined;
}

/** The signed-in user behind an allowed request, for the upstream's headers. */
export interface UserIdentity {
  readonly session: SessionView;
  /** The app session JWT itself, forwarded as `x-bouncer-jwt-assertion`. */
  readonly token: string;
}

export type Decision =
  | {
      readonly allow: true;
      readonly reason: AllowReason;
      readonly tenant: string | undefined;
      readonly identity: ClientIdentity | undefined;
      readonly cacheHit: boolean;
      /** App and user, when the host belongs to an app and a session was used. */
      readonly app?: string | undefined;
      readonly user?: UserIdentity | undefined;
      readonly serviceToken?: string | undefined;
      readonly policy?: string | undefined;
    }
  | {
      readonly allow: false;
      readonly reason: DenyReason;
      readonly status: number;
      /** Human-readable explanation; safe to show the client (no secrets, no internals). */
      readonly detail: string;
      readonly tenant: string | undefined;
      readonly identity: ClientIdentity | undefined;
      readonly cacheHit: boolean;
      readonly app?: string | undefined;
      /** Name of the policy that denied, when one did. */
      readonly policy?: string | undefined;
      /** The signed-in user the denial is about, when a session (valid, or verified but revoked) came with the request. */
      readonly session?: SessionView | undefined;
      /** For 302 answers: where to send the browser. */
      readonly location?: string | undefined;
      /** Set-Cookie values to send with the answer. */
      readonly setCookies?: readonly string[] | undefined;
      /** Prefer an HTML page over JSON (a browser asked). */
      readonly html?: boolean | undefined;
      /**
       * A revocation status being fetched for the first time: the adapter may
       * wait for it once and decide again (src/authz/server.ts).
       */
      readonly revocationSettled?: Promise<void> | undefined;
    };
