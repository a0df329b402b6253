/**
 * The App Launcher page. No script; one stylesheet allowed by hash; images
 * only from the origins of the logos on this page. Every dynamic value goes
 * through `escapeHtml`.
 *
 * Accessibility: header / main / footer landmarks, one `h1`, the tiles as a
 * list of links (each link's text is the app name; logos are decorative, so
 * `alt=""`), a skip link, a visible focus ring on every link, and no
 * information carried by colour alone. The grid reflows from one column on a
 * phone to as many as fit on a desktop.
 */
import { createHash } from 'node:crypto';
import { escapeHtml } from '../auth/pages.js';
import type { LauncherTile } from './tiles.js';

/** Initials backgrounds; all pass WCAG AA (4.5:1) against white text. */
const SWATCHES = ['#1d4ed8', '#047857', '#b91c1c', '#7c3aed', '#a16207', '#0f766e', '#be185d', '#374151'];

const STYLE = [
  ':root{color-scheme:light;font-family:system-ui,sans-serif;color:#1d1d1f;background:#f6f7f9}',
  'body{margin:0}',
  '.skip{position:absolute;left:-999px;top:0;padding:.5rem 1rem;background:#fff}',
  '.skip:focus{left:1rem}',
  'header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;padding:1rem 1.5rem;background:#fff;border-bottom:1px solid #d8dbe0}',
  'header p{margin:0}',
  'main{max-width:72rem;margin:0 auto;padding:1.5rem}',
  'h1{font-size:1.5rem;margin:0 0 1rem}',
  'ul.tiles{list-style:none;margin:0;padding:0;display:grid;gap:1rem;grid-template-columns:repeat(auto-fill,minmax(9.5rem,1fr))}',
  'a.tile{display:flex;flex-direction:column;align-items:center;gap:.75rem;min-height:8.5rem;padding:1.25rem .75rem;box-sizing:border-box;background:#fff;border:1px solid #d8dbe0;border-radius:.75rem;color:inherit;text-decoration:none;text-align:center;overflow-wrap:anywhere}',
  'a.tile:hover{border-color:#1d4ed8;background:#f0f4ff}',
  'a:focus-visible{outline:3px solid #1d4ed8;outline-offset:3px}',
  '.logo,.initials{width:3rem;height:3rem;border-radius:.5rem;flex:none}',
  '.logo{object-fit:contain}',
  '.initials{display:flex;align-items:center;justify-content:center;color:#fff;font-weight:700;font-size:1.1rem}',
  '.name{font-weight:600}',
  '.kind{font-size:.8rem;color:#4b5563}',
  ...SWATCHES.map((c, i) => `.c${i}{background:${c}}`),
  'footer{max-width:72rem;margin:0 auto;padding:0 1.5rem 2rem;color:#4b5563;font-size:.9rem}',
  '@media (prefers-reduced-motion:no-preference){a.tile{transition:background .1s}}',
].join('');

const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

const KIND_LABEL: Readonly<Record<LauncherTile['kind'], string>> = { app: 'Web app', saml: 'SaaS (SAML)', oidc: 'SaaS (OpenID Connect)' };

/** Input of {@link renderLauncher}. */
export interface LauncherPageInput {
  /** Who is signed in, as shown in the header (email, else name, else subject). */
  readonly user: string;
  readonly tiles: readonly LauncherTile[];
  /** Sign-out link; default `/logout`. */
  readonly logoutHref?: string;
}

/** A rendered page and the Content-Security-Policy that must accompany it. */
export interface RenderedLauncher {
  readonly html: string;
  readonly contentSecurityPolicy: string;
}

/**
 * Render the launcher.
 *
 * @example
 * ```ts
 * const { html, contentSecurityPolicy } = renderLauncher({ user: 'alice@acme.test', tiles });
 * reply.header('content-security-policy', contentSecurityPolicy).type('text/html; charset=utf-8').send(html);
 * ```
 */
export function renderLauncher(o: LauncherPageInput): RenderedLauncher {
  const items = o.tiles.map((t) => `<li>${renderTile(t)}</li>`).join('\n');
  const list =
    o.tiles.length === 0
      ? '<p>No apps are available to you. If you expected some, ask your administrator.</p>'
      : `<ul class="tiles" aria-labelledby="apps-heading">\n${items}\n</ul>`;
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>Your apps</title><style>${STYLE}</style></head>
<body>
<a class="skip" href="#apps">Skip to your apps</a>
<header><p>Signed in as <strong>${escapeHtml(o.user)}</strong></p><a href="${escapeHtml(o.logoutHref ?? '/logout')}">Sign out</a></header>
<main id="apps" tabindex="-1"><h1 id="apps-heading">Your apps</h1>
${list}
</main>
<footer><p>${o.tiles.length === 1 ? '1 app' : `${o.tiles.length} apps`} available to you.</p></footer>
</body></html>
`;
  return { html, contentSecurityPolicy: launcherCsp(o.tiles) };
}

function renderTile(t: LauncherTile): string {
  const picture =
    t.logo !== undefined
      ? `<img class="logo" src="${escapeHtml(t.logo)}" alt="" width="48" height="48">`
      : `<span class="initials c${swatch(t.name)}" aria-hidden="true">${escapeHtml(initials(t.displayName))}</span>`;
  return `<a class="tile" href="${escapeHtml(t.href)}" data-app="${escapeHtml(t.name)}">${picture}<span class="name">${escapeHtml(t.displayName)}</span><span class="kind">${KIND_LABEL[t.kind]}</span></a>`;
}

/** Up to two letters: the first of the first two words (`Human Resources` → `HR`), else the first two of one word. */
export function initials(label: string): string {
  const words = label.trim().split(/[\s_-]+/u).filter((w) => w.length > 0);
  const letters = words.length >= 2 ? [...words[0]!].slice(0, 1).concat([...words[1]!].slice(0, 1)) : [...(words[0] ?? '?')].slice(0, 2);
  return letters.join('').toUpperCase();
}

function swatch(name: string): number {
  return createHash('sha256').update(name).digest()[0]! % SWATCHES.length;
}

/** The page's policy: nothing but our stylesheet, and images from exactly the logo origins shown. */
function launcherCsp(tiles: readonly LauncherTile[]): string {
  const sources = new Set<string>();
  for (const t of tiles) {
    if (t.logo === undefined) continue;
    sources.add(t.logo.startsWith('data:') ? 'data:' : new URL(t.logo).origin);
  }
  return [
    "default-src 'none'",
    `style-src 'sha256-${STYLE_HASH}'`,
    ...(sources.size > 0 ? [`img-src ${[...sources].sort().join(' ')}`] : []),
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}
