/** `auth`: the login service's domain and public URL, sessions, the country header, the SAML IdP signing pair. */
import type { Node } from 'yaml';
import { CONFIG_DEFAULTS, CONFIG_LIMITS } from './defaults.js';
import { required } from './fields.js';
import { IDENTITY_KEYS } from './identity-keys.js';
import type { NodeReader, Sourced } from './node-reader.js';
import { normalizeTenantHostname } from '../core/tenant-names.js';
import { normalizeHeaderName } from './values.js';

/** `auth` as written, with defaults filled in. */
export interface RawAuth {
  readonly node: Node | null;
  readonly domain: Sourced<string> | undefined;
  readonly sessionDurationSec: number;
  readonly keyRotationDays: number;
  /** As written; resolved against the config file's directory later. */
  readonly keysDir: Sourced<string> | undefined;
  readonly countryHeader: string | undefined;
  /** `auth.public_url`, checked and reduced to its origin (`https://host[:port]`). */
  readonly publicUrl: string | undefined;
  /** `auth.saml_idp` as written: the IdP signing certificate and key files, read in `resolveIdentity`. */
  readonly samlIdp: { readonly cert: Sourced<string>; readonly key: Sourced<string> } | undefined;
}

export function readAuth(node: Node | null, reader: NodeReader): RawAuth | undefined {
  const m = reader.mapping(node, 'auth', IDENTITY_KEYS.auth);
  if (!m) return undefined;
  let domain: Sourced<string> | undefined;
  const domainEntry = m.get('domain');
  if (!domainEntry) reader.issue(node, 'auth.domain', 'domain is required: the hostname the login service is served on, such as auth.acme.example');
  else {
    const text = reader.string(domainEntry.value, 'auth.domain');
    const host = text === undefined ? undefined : normalizeTenantHostname(text);
    if (host && !host.ok) reader.issue(domainEntry.value, 'auth.domain', host.message);
    else if (host?.ok && host.value.startsWith('*.')) reader.issue(domainEntry.value, 'auth.domain', `'${text ?? ''}' is a wildcard; the login service needs one exact hostname`);
    else if (host?.ok) domain = { value: host.value, node: domainEntry.value, field: 'auth.domain' };
  }

  let sessionDurationSec: number = CONFIG_DEFAULTS.auth.sessionDurationSec;
  let keyRotationDays: number = CONFIG_DEFAULTS.auth.keyRotationDays;
  let keysDir: Sourced<string> | undefined;
  const sessionEntry = m.get('session');
  if (sessionEntry) {
    const s = reader.mapping(sessionEntry.value, 'auth.session', IDENTITY_KEYS.session);
    const duration = s?.get('duration');
    const { sessionDurationSec: sd, keyRotationDays: kr } = CONFIG_LIMITS;
    if (duration) sessionDurationSec = reader.duration(duration.value, 'auth.session.duration', sd.min, sd.max) ?? sessionDurationSec;
    const rotation = s?.get('key_rotation_days');
    if (rotation) keyRotationDays = reader.integer(rotation.value, 'auth.session.key_rotation_days', kr.min, kr.max) ?? keyRotationDays;
    const dir = s?.get('keys_dir');
    const dirText = dir ? reader.string(dir.value, 'auth.session.keys_dir') : undefined;
    if (dir && dirText !== undefined) keysDir = { value: dirText, node: dir.value, field: 'auth.session.keys_dir' };
  }

  let countryHeader: string | undefined;
  const countryEntry = m.get('country_header');
  const countryText = countryEntry ? reader.string(countryEntry.value, 'auth.country_header') : undefined;
  if (countryEntry && countryText !== undefined) {
    const h = normalizeHeaderName(countryText);
    if (h.ok) countryHeader = h.value;
    else reader.issue(countryEntry.value, 'auth.country_header', h.message);
  }

  let publicUrl: string | undefined;
  const publicEntry = m.get('public_url');
  const publicText = publicEntry ? reader.string(publicEntry.value, 'auth.public_url') : undefined;
  if (publicEntry && publicText !== undefined) {
    const r = checkPublicUrl(publicText, domain?.value);
    if (r.ok) publicUrl = r.value;
    else reader.issue(publicEntry.value, 'auth.public_url', r.message);
  }

  let samlIdp: RawAuth['samlIdp'];
  const samlEntry = m.get('saml_idp');
  const sm = samlEntry ? reader.mapping(samlEntry.value, 'auth.saml_idp', IDENTITY_KEYS.saml_idp) : undefined;
  if (samlEntry && sm) {
    // Both or neither: a certificate without its key (or the reverse) cannot sign anything.
    const cert = required(sm, 'cert_file', samlEntry.value, 'auth.saml_idp', reader, 'the PEM certificate SaaS apps pin for bouncer\'s SAML signatures (omit saml_idp to have one generated)');
    const key = required(sm, 'key_file', samlEntry.value, 'auth.saml_idp', reader, 'the PEM private key of cert_file');
    if (cert && key) samlIdp = { cert, key };
  }
  return { node, domain, sessionDurationSec, keyRotationDays, keysDir, countryHeader, publicUrl, samlIdp };
}

/**
 * `auth.public_url`: where browsers reach the login service through the edge,
 * as `https://<auth.domain>[:port]`. Only the origin counts (IdP callback URLs,
 * the redirect to sign in, issuers are built from it), so a path, query or
 * userinfo is a mistake worth naming; the host must be `auth.domain`, whose
 * cookies the login service owns.
 */
function checkPublicUrl(text: string, domain: string | undefined): { ok: true; value: string } | { ok: false; message: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, message: `'${text}' is not a URL; write it as https://<auth.domain>[:port], such as https://auth.acme.example:8443` };
  }
  if (url.protocol !== 'https:') return { ok: false, message: `'${text}' is not https; browsers reach the login service over TLS through Envoy` };
  if (url.username !== '' || url.password !== '') return { ok: false, message: `'${text}' has a user name or password; only scheme, host and port belong here` };
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || /[?#]/.test(text)) {
    return { ok: false, message: `'${text}' has a path, query or fragment; only scheme, host and port belong here` };
  }
  const host = url.hostname.replace(/\.$/, '');
  if (domain !== undefined && host !== domain) return { ok: false, message: `host '${host}' is not auth.domain '${domain}'; the public URL names the login service's own hostname (only the port may differ)` };
  return { ok: true, value: `https://${host}${url.port !== '' ? `:${url.port}` : ''}` };
}
