/**
 * The only place that knows the `CheckRequest` shape: Envoy's request in, the
 * decision's plain input out. The parts are in `check-request/`: the message
 * bouncer reads (`message.ts`), its decoding from the wire, `headers` or
 * `header_map` included (`decode.ts`), and the protobuf reader under it
 * (`wire-reader.ts`).
 */
import { randomUUID } from 'node:crypto';
import { isSafeRequestId } from '../core/request-id.js';
import type { SessionState } from '../core/app.js';
import type { CheckInput } from '../core/decision.js';
import type { CheckRequestMessage } from './check-request/message.js';

export { decodeCheckRequest } from './check-request/decode.js';
export type { CheckRequestMessage } from './check-request/message.js';
export { knownHeaderName } from './check-request/wire-reader.js';

const EMPTY_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

// A request id is echoed in headers, bodies and logs; anything unusual gets a fresh one.
function pickRequestId(...candidates: Array<string | undefined>): string {
  for (const c of candidates) if (isSafeRequestId(c)) return c;
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
    peerCertificate: undefined,
    peerCertificateEncoded: cert || undefined,
    xfcc: headers['x-forwarded-client-cert'],
    sourceAddress: attrs.source?.address?.socket_address?.address,
    accept: headers['accept'],
    serviceClientId: headers[SERVICE_TOKEN_HEADERS.clientId],
    serviceClientSecret: headers[SERVICE_TOKEN_HEADERS.clientSecret],
    country: countryFrom(options.countryHeader !== undefined ? headers[options.countryHeader.toLowerCase()] : undefined),
  };
  return { input, headers, cookie: headers['cookie'] };
}

/**
 * `input` with the session the gate read, as `{ ...input, session }` would give.
 * Every field is listed because the spread cost about a microsecond per check;
 * a unit test holds this list to the fields {@link toCheckInput} sets.
 */
export function withSession(input: CheckInput, session: SessionState | undefined): CheckInput {
  return {
    requestId: input.requestId,
    authority: input.authority,
    sni: input.sni,
    method: input.method,
    path: input.path,
    peerCertificate: input.peerCertificate,
    peerCertificateEncoded: input.peerCertificateEncoded,
    xfcc: input.xfcc,
    sourceAddress: input.sourceAddress,
    accept: input.accept,
    serviceClientId: input.serviceClientId,
    serviceClientSecret: input.serviceClientSecret,
    country: input.country,
    session,
  };
}
