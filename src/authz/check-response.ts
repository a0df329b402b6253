import type { Decision } from '../core/decision.js';

/** Headers bouncer sets on allowed requests; a client can never supply them. */
export const IDENTITY_HEADERS = {
  tenant: 'x-bouncer-tenant',
  auth: 'x-bouncer-mtls',
  subject: 'x-bouncer-client-subject',
  issuer: 'x-bouncer-client-issuer',
  serial: 'x-bouncer-client-serial',
  fingerprint: 'x-bouncer-client-fingerprint-sha256',
  dns: 'x-bouncer-client-san-dns',
  uri: 'x-bouncer-client-san-uri',
  email: 'x-bouncer-client-san-email',
  requestId: 'x-bouncer-request-id',
} as const;

const ALL_IDENTITY_HEADERS: readonly string[] = Object.values(IDENTITY_HEADERS);
const RESERVED_PREFIX = 'x-bouncer-';

/** google.rpc.Code values Envoy understands in CheckResponse.status. */
const RPC_OK = 0;
const RPC_PERMISSION_DENIED = 7;
const RPC_UNAUTHENTICATED = 16;

/** config.core.v3.HeaderValueOption.HeaderAppendAction */
const OVERWRITE_IF_EXISTS_OR_ADD = 2;

interface HeaderValueOption {
  header: { key: string; value: string };
  append_action: number;
}

export interface CheckResponseMessage {
  status: { code: number; message?: string };
  ok_response?: { headers: HeaderValueOption[]; headers_to_remove: string[] };
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
}

/**
 * Header values must be visible ASCII; certificate names may carry anything, so
 * other characters are percent-encoded rather than passed through or dropped.
 */
function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

function set(key: string, value: string): HeaderValueOption {
  return { header: { key, value: headerSafe(value) }, append_action: OVERWRITE_IF_EXISTS_OR_ADD };
}

const MTLS_LABEL: Readonly<Record<string, string>> = {
  mtls_verified: 'verified',
  mtls_optional_absent: 'absent',
  mtls_off: 'off',
  path_exempt: 'exempt',
};

/**
 * Maps a decision to Envoy's CheckResponse. On allow, identity headers are set
 * and every other `x-bouncer-*` header the client sent is removed; on deny, a
 * JSON body carries the stable reason code and the request id.
 */
export function toCheckResponse(
  decision: Decision,
  requestId: string,
  requestHeaders: Readonly<Record<string, string>>,
): CheckResponseMessage {
  if (decision.allow) {
    const headers: HeaderValueOption[] = [
      set(IDENTITY_HEADERS.tenant, decision.tenant),
      set(IDENTITY_HEADERS.auth, MTLS_LABEL[decision.reason] ?? decision.reason),
      set(IDENTITY_HEADERS.requestId, requestId),
    ];
    const id = decision.identity;
    if (id) {
      headers.push(
        set(IDENTITY_HEADERS.subject, id.subject),
        set(IDENTITY_HEADERS.issuer, id.issuer),
        set(IDENTITY_HEADERS.serial, id.serial),
        set(IDENTITY_HEADERS.fingerprint, id.fingerprint256),
      );
      if (id.dns.length) headers.push(set(IDENTITY_HEADERS.dns, id.dns.join(',')));
      if (id.uri.length) headers.push(set(IDENTITY_HEADERS.uri, id.uri.join(',')));
      if (id.email.length) headers.push(set(IDENTITY_HEADERS.email, id.email.join(',')));
    }
    const setKeys = new Set(headers.map((h) => h.header.key));
    // Envoy applies removals after additions, so only remove what we did not set.
    const remove = ALL_IDENTITY_HEADERS.filter((h) => !setKeys.has(h));
    for (const name of Object.keys(requestHeaders)) {
      if (name.startsWith(RESERVED_PREFIX) && !setKeys.has(name) && !remove.includes(name)) remove.push(name);
    }
    return { status: { code: RPC_OK }, ok_response: { headers, headers_to_remove: remove } };
  }

  const body = JSON.stringify({
    error: decision.reason,
    status: decision.status,
    message: decision.detail,
    request_id: requestId,
  });
  return {
    status: { code: decision.status === 401 ? RPC_UNAUTHENTICATED : RPC_PERMISSION_DENIED, message: decision.reason },
    denied_response: {
      status: { code: decision.status },
      headers: [
        set('content-type', 'application/json'),
        set('cache-control', 'no-store'),
        set('x-bouncer-reason', decision.reason),
        set('x-request-id', requestId),
      ],
      body,
    },
  };
}
