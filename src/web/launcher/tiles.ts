/**
 * Which tiles the App Launcher shows a signed-in user: every app and SaaS app
 * that is not hidden, accepts the IdP the user signed in with, and whose
 * policies let the user in. Pure: the identity, the request facts and the
 * clock come in as arguments.
 */
import type { AppConfig, SaasAppConfig } from '../../config/types.js';
import type { Identity, RequestContext } from '../../core/identity.js';
import { evaluatePolicies } from '../../core/policy/index.js';

/** Kind of app behind a tile. */
export type TileKind = 'app' | 'saml' | 'oidc';

/** One launcher tile. */
export interface LauncherTile {
  /** Config name (unique across apps and SaaS apps). */
  readonly name: string;
  readonly displayName: string;
  readonly kind: TileKind;
  /** Absolute `https:` URL, or a path on the auth domain (SAML IdP-initiated login). */
  readonly href: string;
  /** A logo the page may show (`https:` URL or `data:image/...`), already checked by {@link safeLogo}. */
  readonly logo: string | undefined;
}

/** Request facts shared by every tile; host and path are filled in per tile. */
export type LauncherRequestFacts = Omit<RequestContext, 'host' | 'path' | 'method'>;

/** Input of {@link listLauncherTiles}. */
export interface ListTilesInput {
  readonly apps: readonly AppConfig[];
  readonly saasApps: readonly SaasAppConfig[];
  readonly identity: Identity;
  /** Hostname of the auth domain, where SaaS logins (and so their policy checks) happen. */
  readonly authDomain: string;
  /** Our OIDC issuer, sent as `iss` to apps that start logins themselves; default `https://<authDomain>/oidc`. */
  readonly oidcIssuer?: string;
  readonly request: LauncherRequestFacts;
}

/** Raster and SVG images only; an SVG in an `<img>` runs no script. */
const DATA_IMAGE = /^data:image\/(?:png|jpeg|gif|webp|svg\+xml)(?:;[a-z0-9=.+-]+)*,[A-Za-z0-9+/=%._~:@!$&'()*,;-]*$/i;
/** Longest logo reference rendered; data URIs past this are left out rather than bloat every page. */
const MAX_LOGO_LENGTH = 32_768;

/**
 * The logo if it is an `https:` URL or a `data:image/...` URI, else undefined
 * (the config loader checks the same; this keeps the page safe on its own).
 */
export function safeLogo(logo: string | undefined): string | undefined {
  if (logo === undefined || logo.length > MAX_LOGO_LENGTH) return undefined;
  if (DATA_IMAGE.test(logo)) return logo;
  const u = URL.canParse(logo) ? new URL(logo) : undefined;
  return u !== undefined && u.protocol === 'https:' && u.username === '' && u.password === '' ? u.href : undefined;
}

/** Where a self-hosted app's tile points: `launcher.url`, else `https://<first non-wildcard hostname>/`. */
export function appTileUrl(app: AppConfig): URL | undefined {
  if (app.launcher.url !== undefined) return URL.canParse(app.launcher.url) ? new URL(app.launcher.url) : undefined;
  const host = app.hostnames.find((h) => !h.startsWith('*.'));
  return host === undefined ? undefined : new URL(`https://${host}/`);
}

/** Where a SaaS app's tile points: IdP-initiated SAML login, or the OIDC app's own site (first redirect URI's origin). */
export function saasTileHref(saas: SaasAppConfig, oidcIssuer?: string): string | undefined {
  if (saas.saml !== undefined) return `/saml/idp/${encodeURIComponent(saas.name)}/init`;
  // OpenID Connect Core §4 (third-party initiated login): the app starts a login at us.
  const initiate = saas.oidc?.initiateLoginUri;
  if (initiate !== undefined && oidcIssuer !== undefined) {
    const u = new URL(initiate);
    u.searchParams.set('iss', oidcIssuer);
    return u.href;
  }
  const first = saas.oidc?.redirectUris[0];
  return first !== undefined && URL.canParse(first) ? `${new URL(first).origin}/` : undefined;
}

/**
 * The tiles `identity` may see, sorted by label.
 *
 * A tile shows when its policies allow or bypass; `deny` and no match
 * (`login_required`) hide it. Self-hosted apps are evaluated with the tile
 * URL's host and path, SaaS apps with the auth domain (their policies run
 * there at login). No client certificate is seen on the auth domain, so an app
 * whose policies need one is not shown.
 *
 * @example
 * ```ts
 * const tiles = listLauncherTiles({ apps, saasApps, identity, authDomain: 'auth.acme.test',
 *   request: { nowMs, sourceIp: req.ip, country: undefined, certificate: undefined, serviceToken: undefined } });
 * ```
 */
export function listLauncherTiles(input: ListTilesInput): LauncherTile[] {
  const tiles: LauncherTile[] = [];
  const allows = (policies: AppConfig['policies'], host: string, path: string): boolean => {
    const verdict = evaluatePolicies(policies, input.identity, { ...input.request, host, path, method: 'GET' });
    return verdict.outcome === 'allow' || verdict.outcome === 'bypass';
  };
  // An app that does not accept the IdP the user signed in with would send them to sign in again as someone else.
  const acceptsIdp = (idps: readonly string[]): boolean => idps.includes(input.identity.idp.id);

  for (const app of input.apps) {
    if (app.launcher.hidden || !acceptsIdp(app.idps)) continue;
    const url = appTileUrl(app);
    if (url === undefined || url.protocol !== 'https:') continue;
    if (!allows(app.policies, url.hostname, url.pathname)) continue;
    tiles.push({ name: app.name, displayName: app.launcher.displayName, kind: 'app', href: url.href, logo: safeLogo(app.launcher.logo) });
  }
  for (const saas of input.saasApps) {
    if (saas.hidden || !acceptsIdp(saas.idps)) continue;
    const href = saasTileHref(saas, input.oidcIssuer ?? `https://${input.authDomain}/oidc`);
    if (href === undefined) continue;
    const kind: TileKind = saas.saml !== undefined ? 'saml' : 'oidc';
    const path = kind === 'saml' ? href : '/oidc/auth';
    if (!allows(saas.policies, input.authDomain, path)) continue;
    tiles.push({ name: saas.name, displayName: saas.displayName, kind, href, logo: safeLogo(saas.logo) });
  }
  return tiles.sort((a, b) => a.displayName.localeCompare(b.displayName, 'en', { sensitivity: 'base' }) || (a.name < b.name ? -1 : 1));
}
