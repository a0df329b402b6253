/**
 * What a denial answers: a JSON body (or a small HTML page for browsers) with
 * the stable reason code and the request id, the HTTP status, and a
 * redirect or cookies when the decision carries them.
 */
import type { Decision } from '../../core/decision.js';
import { APPEND_IF_EXISTS_OR_ADD, RPC_PERMISSION_DENIED, RPC_UNAUTHENTICATED, headerSafe, set, type CheckResponseMessage } from './message.js';

type DenyDecision = Extract<Decision, { allow: false }>;

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

export function toDeniedResponse(decision: DenyDecision, requestId: string): CheckResponseMessage {
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
