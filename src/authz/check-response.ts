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
  app: 'x-bouncer-app',
  jwt: 'x-bouncer-jwt-assertion',
  userSub: 'x-bouncer-user-sub',
  userEmail: 'x-bouncer-user-email',
  userName: 'x-bouncer-user-name',
  userGroups: 'x-bouncer-user-groups',
  userIdp: 'x-bouncer-user-idp',
  serviceToken: 'x-bouncer-service-token',
  policy: 'x-bouncer-policy',
} as const;

const ALL_IDENTITY_HEADERS: readonly string[] = Object.values(IDENTITY_HEADERS);
const RESERVED_PREFIX = 'x-bouncer-';

/** google.rpc.Code values Envoy understands in CheckResponse.status. */
const RPC_OK = 0;
const RPC_PERMISSION_DENIED = 7;
const RPC_UNAUTHENTICATED = 16;

/** config.core.v3.HeaderValueOption.HeaderAppendAction */
const APPEND_IF_EXISTS_OR_ADD = 0;
const OVERWRITE_IF_EXISTS_OR_ADD = 2;

const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);

/** A small deny page for browsers: what happened, which rule, and the id to quote to support. */
function renderDenyPage(p: { error: string; status: number; message: string; policy?: string; request_id: string }): string {
  return [
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Access denied</title>',
    '<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .3em}</style></head><body>',
    '<h1>Access denied</h1>',
    `<p>${escapeHtml(p.message)}</p>`,
    p.policy !== undefined ? `<p>Rule: <code>${escapeHtml(p.policy)}</code></p>` : '',
    `<p>Reason: <code>${escapeHtml(p.error)}</code> · Request id: <code>${escapeHtml(p.request_id)}</code></p>`,
    '</body></html>',
  ].join('');
}

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
    const headers: HeaderValueOption[] = [set(IDENTITY_HEADERS.requestId, requestId)];
    if (decision.tenant !== undefined) {
      headers.push(set(IDENTITY_HEADERS.tenant, decision.tenant), set(IDENTITY_HEADERS.auth, MTLS_LABEL[decision.reason] ?? (decision.identity ? 'verified' : 'absent')));
    }
    if (decision.app !== undefined) headers.push(set(IDENTITY_HEADERS.app, decision.app));
    if (decision.policy !== undefined) headers.push(set(IDENTITY_HEADERS.policy, decision.policy));
    if (decision.serviceToken !== undefined) headers.push(set(IDENTITY_HEADERS.serviceToken, decision.serviceToken));
    const user = decision.user;
    if (user) {
      headers.push(set(IDENTITY_HEADERS.jwt, user.token), set(IDENTITY_HEADERS.userSub, user.session.sub), set(IDENTITY_HEADERS.userIdp, user.session.idp));
      if (user.session.email !== undefined) headers.push(set(IDENTITY_HEADERS.userEmail, user.session.email));
      if (user.session.name !== undefined) headers.push(set(IDENTITY_HEADERS.userName, user.session.name));
      if (user.session.groups.length) headers.push(set(IDENTITY_HEADERS.userGroups, user.session.groups.join(',')));
    }
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

  const payload = {
    error: decision.reason,
    status: decision.status,
    message: decision.detail,
    ...(decision.policy !== undefined ? { policy: decision.policy } : {}),
    request_id: requestId,
  };
  const headers = [set('cache-control', 'no-store'), set('x-bouncer-reason', decision.reason), set('x-request-id', requestId)];
  if (decision.location !== undefined) headers.push(set('location', decision.location));
  // Several Set-Cookie headers must stay separate; append rather than overwrite.
  for (const c of decision.setCookies ?? []) headers.push({ header: { key: 'set-cookie', value: headerSafe(c) }, append_action: APPEND_IF_EXISTS_OR_ADD });
  let body: string;
  if (decision.html) {
    headers.push(set('content-type', 'text/html; charset=utf-8'), set('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'"));
    body = renderDenyPage(payload);
  } else {
    headers.push(set('content-type', 'application/json'));
    body = JSON.stringify(payload);
  }
  return {
    status: { code: decision.status === 401 ? RPC_UNAUTHENTICATED : RPC_PERMISSION_DENIED, message: decision.reason },
    denied_response: { status: { code: decision.status }, headers, body },
  };
}
