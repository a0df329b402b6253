/**
 * The page that carries the SAML Response to the SP's ACS (HTTP-POST binding,
 * SAML bindings §3.5.4): a form posted by a nonce'd inline script, with a button
 * for browsers without script. Its Content-Security-Policy allows exactly that
 * script (see the note on form-action below).
 */
import { createHash, randomBytes } from 'node:crypto';
import { escapeHtml } from '../auth/pages.js';

const STYLE = 'body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}button{font:inherit;padding:.6rem 1.2rem}button:focus{outline:3px solid #1a73e8;outline-offset:2px}';
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

/** The page and the CSP header it needs. */
export interface PostFormPage {
  html: string;
  contentSecurityPolicy: string;
}

/**
 * Renders the auto-submitting form.
 *
 * @example
 * const page = renderPostForm({ action: acsUrl, fields: { SAMLResponse: b64, RelayState: relay }, appName: 'Salesforce' });
 * reply.header('content-security-policy', page.contentSecurityPolicy).type('text/html').send(page.html);
 */
export function renderPostForm(o: { action: string; fields: Readonly<Record<string, string | undefined>>; appName: string }): PostFormPage {
  const nonce = randomBytes(16).toString('base64');
  const inputs = Object.entries(o.fields)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>Signing in to ${escapeHtml(o.appName)}</title><style>${STYLE}</style></head>
<body><main><h1>Signing in to ${escapeHtml(o.appName)}…</h1>
<form method="post" action="${escapeHtml(o.action)}" id="saml">${inputs}<noscript><p>Script is off: press the button to continue.</p></noscript><button type="submit">Continue</button></form>
</main><script nonce="${nonce}">document.getElementById('saml').submit();</script></body></html>
`;
  // No form-action: browsers (Chromium) apply it to the redirects that follow the POST too,
  // and ACSs commonly redirect to another host of the SP (login.example → tenant.example).
  // The page holds no user-controlled markup and runs only the nonce'd script, so
  // there is nothing a form-action restriction would protect here.
  const contentSecurityPolicy = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'sha256-${STYLE_HASH}'`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
  return { html, contentSecurityPolicy };
}
