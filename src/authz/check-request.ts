import { randomUUID } from 'node:crypto';
import type { CheckInput } from '../core/decision.js';

/**
 * The subset of envoy.service.auth.v3.CheckRequest bouncer reads, as
 * @grpc/proto-loader decodes it (keepCase, oneofs). Everything is optional
 * because Envoy omits what it does not know.
 */
export interface CheckRequestMessage {
  attributes?: {
    source?: {
      address?: { socket_address?: { address?: string } };
      /** URL-encoded PEM of the peer certificate (include_peer_certificate). */
      certificate?: string;
    };
    request?: {
      http?: {
        id?: string;
        method?: string;
        path?: string;
        host?: string;
        headers?: Record<string, string>;
      };
    };
    /** Present with include_tls_session. */
    tls_session?: { sni?: string };
  };
}

const EMPTY_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

function decodePem(urlEncoded: string): string {
  try {
    return decodeURIComponent(urlEncoded);
  } catch {
    // Left encoded: the certificate parser then rejects it as malformed.
    return urlEncoded;
  }
}

// A request id is echoed in headers, bodies and logs; anything unusual gets a fresh one.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function pickRequestId(...candidates: Array<string | undefined>): string {
  for (const c of candidates) if (c !== undefined && SAFE_REQUEST_ID.test(c)) return c;
  return randomUUID();
}

function countryFrom(value: string | undefined): string | undefined {
  return value !== undefined && /^[A-Za-z]{2}$/.test(value) ? value.toUpperCase() : undefined;
}

/** Maps Envoy's CheckRequest to the plain input of the decision core. */
export interface CheckInputOptions {
  /** Header a trusted edge (a CDN) sets with the client's country; unset means none is trusted. */
  readonly countryHeader?: string | undefined;
}

/** Header names for service tokens; like every `x-bouncer-*` header they never reach the upstream. */
export const SERVICE_TOKEN_HEADERS = { clientId: 'x-bouncer-client-id', clientSecret: 'x-bouncer-client-secret' } as const;

export function toCheckInput(
  msg: CheckRequestMessage,
  options: CheckInputOptions = {},
): { input: CheckInput; headers: Readonly<Record<string, string>>; cookie: string | undefined } {
  const attrs = msg.attributes ?? {};
  const http = attrs.request?.http ?? {};
  const headers = http.headers ?? EMPTY_HEADERS;
  const cert = attrs.source?.certificate;
  const input: CheckInput = {
    requestId: pickRequestId(headers['x-request-id'], http.id),
    authority: headers[':authority'] ?? http.host ?? headers['host'] ?? '',
    sni: attrs.tls_session?.sni,
    method: headers[':method'] ?? http.method ?? '',
    path: headers[':path'] ?? http.path ?? '',
    peerCertificate: cert ? decodePem(cert) : undefined,
    xfcc: headers['x-forwarded-client-cert'],
    sourceAddress: attrs.source?.address?.socket_address?.address,
    accept: headers['accept'],
    serviceClientId: headers[SERVICE_TOKEN_HEADERS.clientId],
    serviceClientSecret: headers[SERVICE_TOKEN_HEADERS.clientSecret],
    country: countryFrom(options.countryHeader !== undefined ? headers[options.countryHeader.toLowerCase()] : undefined),
  };
  return { input, headers, cookie: headers['cookie'] };
}
