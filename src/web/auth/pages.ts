/**
 * The auth service's HTML pages. Every dynamic value goes through
 * {@link escapeHtml}; the pages need no script, and their one stylesheet is
 * allowed by hash, so the CSP can forbid everything else.
 */
import { createHash } from 'node:crypto';

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escape text for HTML element content and quoted attribute values (we never emit unquoted ones). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

const STYLE = [
  'body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1d1d1f}',
  'h1{font-size:1.4rem}',
  'a.idp{display:block;margin:.5rem 0;padding:.75rem 1rem;border:1px solid #ccc;border-radius:.5rem;text-decoration:none;color:inherit}',
  'a.idp:hover{background:#f4f4f6}',
  'dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}',
  'dt{font-weight:600}dd{margin:0;word-break:break-all}',
  'code{font-size:.9em}',
].join('');

const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

/** Content-Security-Policy for every auth service response. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${STYLE_HASH}'`,
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>${body}</body></html>
`;
}

/** One entry on the IdP chooser. */
export interface ChooserEntry {
  readonly displayName: string;
  /** Relative URL of `/login/<idp>?app=..&rd=..`. */
  readonly href: string;
}

/** The IdP chooser for an app. */
export function renderChooserPage(o: { appName: string; entries: readonly ChooserEntry[] }): string {
  const links = o.entries
    .map((e) => `<a class="idp" href="${escapeHtml(e.href)}">Sign in with ${escapeHtml(e.displayName)}</a>`)
    .join('\n');
  return layout('Sign in', `<h1>Sign in to ${escapeHtml(o.appName)}</h1>\n${links}`);
}

/** A refused request: login failure or policy denial. */
export interface DenyPageInput {
  readonly title: string;
  readonly message: string;
  /** Stable reason code (`policy_deny`, `login_state_mismatch`, ...). */
  readonly reason: string;
  readonly policy: string | undefined;
  readonly requestId: string;
  readonly app: string | undefined;
  readonly user: string | undefined;
}

/** Deny / error page: what happened, which rule, and a request id to quote. */
export function renderDenyPage(o: DenyPageInput): string {
  const rows: [string, string | undefined][] = [
    ['Reason', o.reason],
    ['Policy', o.policy],
    ['App', o.app],
    ['Signed in as', o.user],
    ['Request id', o.requestId],
  ];
  const dl = rows
    .filter((r): r is [string, string] => r[1] !== undefined)
    .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd><code>${escapeHtml(v)}</code></dd>`)
    .join('');
  return layout(o.title, `<h1>${escapeHtml(o.title)}</h1>\n<p>${escapeHtml(o.message)}</p>\n<dl>${dl}</dl>`);
}

/** Shown after `/logout`. */
export function renderSignedOutPage(): string {
  return layout('Signed out', '<h1>You are signed out</h1>\n<p>Your session has ended. You can close this window.</p>');
}
