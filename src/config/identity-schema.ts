import { YAMLSeq, isMap, isScalar, type Node } from 'yaml';
import { CONFIG_DEFAULTS, CONFIG_LIMITS, ID_TOKEN_SIGNING_ALGS, OIDC_PRESETS, OIDC_PRESET_NAMES, type IdTokenSigningAlg } from './defaults.js';
import { joinField, type Entry, type NodeReader, type RefusedKeys } from './node-reader.js';
import { readDisplayName, readLogo, readPolicies, readSecret, required, stringList, type RawPolicies, type RawSecret } from './fields.js';
import type { Sourced } from './node-reader.js';
import type { RawSaasApp } from './saas-schema.js';
import { checkExemptPath, normalizeTenantHostname } from '../core/tenant-names.js';
import { checkIdentifier, checkServiceUrl, normalizeHeaderName } from './values.js';

/** The keys of the identity sections; merged into `CONFIG_KEYS` (docs and tests iterate over that). */
export const IDENTITY_KEYS = {
  auth: ['domain', 'public_url', 'session', 'country_header', 'saml_idp'],
  saml_idp: ['cert_file', 'key_file'],
  session: ['duration', 'key_rotation_days', 'keys_dir'],
  idp_oidc: ['id', 'type', 'preset', 'issuer', 'client_id', 'client_secret_env', 'client_secret_file', 'scopes', 'groups_claim', 'id_token_signing_alg_values'],
  idp_github: ['id', 'type', 'client_id', 'client_secret_env', 'client_secret_file', 'orgs', 'api_url', 'authorize_url', 'token_url'],
  idp_saml: ['id', 'type', 'metadata_file', 'entity_id'],
  app: ['name', 'hostnames', 'idps', 'session_duration', 'api_paths', 'policies', 'launcher'],
  launcher: ['hidden', 'display_name', 'logo', 'url'],
  service_token: ['id', 'client_id', 'secret_sha256'],
} as const;

export const IDP_TYPES = ['oidc', 'github', 'saml'] as const;
type RawIdpType = (typeof IDP_TYPES)[number];

/**
 * Secrets written into the file would end up in Git, ConfigMaps and error
 * messages; these keys are refused with a pointer to the safe alternatives.
 */
const INLINE_SECRET: RefusedKeys = {
  client_secret: "secrets are never written in the config file: use client_secret_env (the name of an environment variable) or client_secret_file (a file holding the secret)",
};
const INLINE_TOKEN_SECRET: RefusedKeys = {
  secret: 'the secret itself is never written in the config file: write secret_sha256, the hex SHA-256 of the secret (`printf %s "$SECRET" | sha256sum`)',
  client_secret: 'the secret itself is never written in the config file: write secret_sha256, the hex SHA-256 of the secret (`printf %s "$SECRET" | sha256sum`)',
};

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

/** `apps[].launcher` with defaults filled in, except `displayName`, which defaults to the app name later. */
export interface RawLauncher {
  readonly hidden: boolean;
  readonly displayName: string | undefined;
  readonly logo: string | undefined;
  readonly url: string | undefined;
}

interface RawIdpCommon {
  readonly index: number;
  readonly field: string;
  readonly node: Node | null;
  readonly id: Sourced<string> | undefined;
}

/** An IdP as written. Fields left undefined were missing or invalid, and that was reported. */
export type RawIdp = RawIdpCommon &
  (
    | {
        readonly type: 'oidc';
        readonly preset: string;
        readonly issuer: string | undefined;
        readonly clientId: string | undefined;
        readonly secret: RawSecret | undefined;
        readonly scopes: string[];
        readonly groupsClaim: string;
        readonly idTokenSigningAlgs: IdTokenSigningAlg[];
      }
    | {
        readonly type: 'github';
        readonly clientId: string | undefined;
        readonly secret: RawSecret | undefined;
        readonly orgs: string[];
        readonly apiUrl: string | undefined;
        readonly authorizeUrl: string | undefined;
        readonly tokenUrl: string | undefined;
      }
    | { readonly type: 'saml'; readonly metadataFile: Sourced<string> | undefined; readonly entityId: string | undefined }
    | { readonly type: undefined }
  );

/** An app as written; `policies` is the plain data handed to the policy compiler. */
export interface RawApp {
  readonly index: number;
  readonly field: string;
  readonly node: Node | null;
  readonly name: Sourced<string> | undefined;
  readonly hostnames: ReadonlyArray<Sourced<string>>;
  readonly idps: ReadonlyArray<Sourced<string>>;
  readonly sessionDurationSec: number | undefined;
  readonly apiPaths: readonly string[];
  readonly policies: RawPolicies | undefined;
  readonly launcher: RawLauncher;
}

/** A service token as written. */
export interface RawServiceToken {
  readonly index: number;
  readonly field: string;
  readonly node: Node | null;
  readonly id: Sourced<string> | undefined;
  readonly clientId: Sourced<string> | undefined;
  readonly secretSha256: string | undefined;
}

/** Every identity section after shape checks; cross-references and files are checked later. */
export interface RawIdentity {
  auth: RawAuth | undefined;
  /** The `auth` key, or null when the file has none. */
  authKey: Node | null;
  /** The `apps` key, where "auth is required" points. */
  appsKey: Node | null;
  idps: RawIdp[];
  apps: RawApp[];
  serviceTokens: RawServiceToken[];
  /** `saas_apps`, filled by `readSaasAppsShape` (schema.ts). */
  saasApps: RawSaasApp[];
  /** The `saas_apps` key, where "auth is required" points. */
  saasAppsKey: Node | null;
}

/** Stands in for an absent optional list. */
const EMPTY = new YAMLSeq();

/** Reads `auth`, `idps`, `apps` and `service_tokens` out of the root mapping's entries. */
export function readIdentityShape(top: ReadonlyMap<string, Entry>, reader: NodeReader, warnings: string[]): RawIdentity {
  const out: RawIdentity = { auth: undefined, authKey: null, appsKey: null, idps: [], apps: [], serviceTokens: [], saasApps: [], saasAppsKey: null };
  const auth = top.get('auth');
  if (auth) {
    out.authKey = auth.key;
    out.auth = readAuth(auth.value, reader);
  }
  const idps = top.get('idps');
  reader.list(idps ? idps.value : EMPTY, 'idps')?.forEach((item, i) => out.idps.push(readIdp(item, i, reader)));
  const apps = top.get('apps');
  if (apps) out.appsKey = apps.key;
  reader.list(apps ? apps.value : EMPTY, 'apps')?.forEach((item, i) => {
    const app = readApp(item, i, reader, warnings);
    if (app) out.apps.push(app);
  });
  const tokens = top.get('service_tokens');
  reader.list(tokens ? tokens.value : EMPTY, 'service_tokens')?.forEach((item, i) => {
    const token = readServiceToken(item, i, reader);
    if (token) out.serviceTokens.push(token);
  });
  return out;
}

function readAuth(node: Node | null, reader: NodeReader): RawAuth | undefined {
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

const ANY_IDP_KEY: readonly string[] = [...new Set([...IDENTITY_KEYS.idp_oidc, ...IDENTITY_KEYS.idp_github, ...IDENTITY_KEYS.idp_saml])];

/** Reads `type` before the rest: which keys are allowed depends on it. */
function peekType(node: Node | null, field: string, reader: NodeReader): RawIdpType | undefined {
  const n = reader.resolve(node);
  if (!isMap(n)) return undefined;
  const pair = n.items.find((p) => isScalar(p.key) && p.key.value === 'type');
  if (!pair) {
    reader.issue(n, `${field}.type`, `type is required: one of ${IDP_TYPES.join(', ')}`);
    return undefined;
  }
  return reader.oneOf((pair.value as Node | null) ?? null, `${field}.type`, IDP_TYPES);
}

function readIdp(node: Node | null, index: number, reader: NodeReader): RawIdp {
  const field = joinField('idps', index);
  const type = peekType(node, field, reader);
  // Without a known type, any IdP key is accepted here; the type issue says what is wrong.
  const allowed = type === undefined ? ANY_IDP_KEY : IDENTITY_KEYS[`idp_${type}`];
  const m = reader.mapping(node, field, allowed, [], INLINE_SECRET);
  const common = { index, field, node };
  if (!m) return { ...common, id: undefined, type: undefined };
  const idEntry = m.get('id');
  let id: Sourced<string> | undefined;
  if (!idEntry) reader.issue(node, `${field}.id`, 'id is required: a short name such as okta or github, used in the callback URL and in policies');
  else {
    const text = reader.string(idEntry.value, `${field}.id`);
    const problem = text === undefined ? undefined : checkIdentifier('id', text);
    if (problem) reader.issue(idEntry.value, `${field}.id`, problem);
    else if (text !== undefined) id = { value: text, node: idEntry.value, field: `${field}.id` };
  }
  const base = { ...common, id };
  switch (type) {
    case 'oidc':
      return { ...base, type, ...readOidc(m, node, field, reader) };
    case 'github':
      return { ...base, type, ...readGithub(m, node, field, reader) };
    case 'saml': {
      const file = required(m, 'metadata_file', node, field, reader, 'the IdP metadata XML, downloaded from the IdP');
      const entity = m.get('entity_id');
      const entityText = entity ? reader.string(entity.value, `${field}.entity_id`) : undefined;
      let entityId: string | undefined;
      if (entity && entityText !== undefined) {
        if (URL.canParse(entityText.trim())) entityId = entityText.trim();
        else reader.issue(entity.value, `${field}.entity_id`, `entity_id must be a URI, such as https://auth.acme.example/saml/corp; got '${entityText}'`);
      }
      return { ...base, type, metadataFile: file, entityId };
    }
    default:
      return { ...base, type: undefined };
  }
}

function readOidc(m: ReadonlyMap<string, Entry>, node: Node | null, field: string, reader: NodeReader): Omit<Extract<RawIdp, { type: 'oidc' }>, keyof RawIdpCommon | 'type'> {
  const presetEntry = m.get('preset');
  const written = presetEntry ? reader.oneOf(presetEntry.value, `${field}.preset`, OIDC_PRESET_NAMES) : CONFIG_DEFAULTS.oidc.preset;
  const preset = written ?? CONFIG_DEFAULTS.oidc.preset;
  const defaults: { scopes?: readonly string[]; issuer?: string } = OIDC_PRESETS[preset];

  let issuer: string | undefined;
  const issuerEntry = m.get('issuer');
  if (issuerEntry) issuer = serviceUrl(issuerEntry, `${field}.issuer`, reader);
  else if (defaults.issuer !== undefined) issuer = defaults.issuer;
  // With a misspelt preset (reported), whether an issuer is needed is unknown.
  else if (written !== undefined) reader.issue(node, `${field}.issuer`, `issuer is required${preset === 'generic' ? '' : ` with preset ${preset}`}: the IdP's issuer URL, exactly as in its /.well-known/openid-configuration`);

  const scopesEntry = m.get('scopes');
  let scopes = [...(defaults.scopes ?? CONFIG_DEFAULTS.oidc.scopes)];
  if (scopesEntry) {
    const written = stringList(scopesEntry, `${field}.scopes`, reader, { nonEmpty: true });
    if (written && !written.some((s) => s.value === 'openid')) {
      reader.issue(scopesEntry.value, `${field}.scopes`, "scopes must include openid: without it the IdP does not return an ID token (OpenID Connect Core 1.0 §3.1.2.1)");
    }
    if (written) scopes = [...new Set(written.map((s) => s.value))];
  }
  const groupsEntry = m.get('groups_claim');
  const groupsClaim = (groupsEntry && reader.string(groupsEntry.value, `${field}.groups_claim`)) ?? CONFIG_DEFAULTS.oidc.groupsClaim;
  let idTokenSigningAlgs: IdTokenSigningAlg[] = [...CONFIG_DEFAULTS.oidc.idTokenSigningAlgs];
  const algsEntry = m.get('id_token_signing_alg_values');
  if (algsEntry) {
    const items = reader.list(algsEntry.value, `${field}.id_token_signing_alg_values`, { nonEmpty: true });
    if (items) {
      const algs = items.map((item, j) => reader.oneOf(item, `${field}.id_token_signing_alg_values[${j}]`, ID_TOKEN_SIGNING_ALGS));
      if (algs.every((a): a is IdTokenSigningAlg => a !== undefined)) idTokenSigningAlgs = [...new Set(algs)];
    }
  }
  return {
    preset,
    issuer,
    clientId: required(m, 'client_id', node, field, reader, "the client ID of bouncer's registration at the IdP")?.value,
    secret: readSecret(m, node, field, reader),
    scopes,
    groupsClaim,
    idTokenSigningAlgs,
  };
}

function readGithub(m: ReadonlyMap<string, Entry>, node: Node | null, field: string, reader: NodeReader): Omit<Extract<RawIdp, { type: 'github' }>, keyof RawIdpCommon | 'type'> {
  const orgsEntry = m.get('orgs');
  const orgs: string[] = [];
  for (const org of orgsEntry ? (stringList(orgsEntry, `${field}.orgs`, reader) ?? []) : []) {
    // GitHub logins: alphanumerics and single inner hyphens, at most 39 characters; case-insensitive.
    if (!/^[a-z\d](?:[a-z\d]|-(?=[a-z\d])){0,38}$/i.test(org.value)) reader.issue(org.node, org.field, `'${org.value}' is not a GitHub organization name`);
    else if (!orgs.includes(org.value.toLowerCase())) orgs.push(org.value.toLowerCase());
  }
  const url = (key: 'api_url' | 'authorize_url' | 'token_url', fallback: string): string | undefined => {
    const e = m.get(key);
    return e ? serviceUrl(e, `${field}.${key}`, reader) : fallback;
  };
  const { github } = CONFIG_DEFAULTS;
  return {
    clientId: required(m, 'client_id', node, field, reader, "the client ID of bouncer's GitHub OAuth app")?.value,
    secret: readSecret(m, node, field, reader),
    orgs,
    // Without the trailing slash, so connectors can append `/user` and friends.
    apiUrl: url('api_url', github.apiUrl)?.replace(/\/+$/, ''),
    authorizeUrl: url('authorize_url', github.authorizeUrl),
    tokenUrl: url('token_url', github.tokenUrl),
  };
}

function serviceUrl(entry: Entry, field: string, reader: NodeReader): string | undefined {
  const text = reader.string(entry.value, field);
  if (text === undefined) return undefined;
  const checked = checkServiceUrl(text);
  if (checked.ok) return checked.value;
  reader.issue(entry.value, field, checked.message);
  return undefined;
}

function readApp(node: Node | null, index: number, reader: NodeReader, warnings: string[]): RawApp | undefined {
  const field = joinField('apps', index);
  const m = reader.mapping(node, field, IDENTITY_KEYS.app);
  if (!m) return undefined;
  let name: Sourced<string> | undefined;
  const nameEntry = m.get('name');
  if (!nameEntry) reader.issue(node, `${field}.name`, 'name is required: a short name for the app, used in session audiences, logs and the login URL');
  else {
    const text = reader.string(nameEntry.value, `${field}.name`);
    const problem = text === undefined ? undefined : checkIdentifier('name', text);
    if (problem) reader.issue(nameEntry.value, `${field}.name`, problem);
    else if (text !== undefined) name = { value: text, node: nameEntry.value, field: `${field}.name` };
  }
  const label = name?.value ?? field;

  const hostnames: Array<Sourced<string>> = [];
  const hostsEntry = m.get('hostnames');
  if (!hostsEntry) reader.issue(node, `${field}.hostnames`, 'hostnames is required: list the DNS names this app is served on');
  for (const h of hostsEntry ? (stringList(hostsEntry, `${field}.hostnames`, reader, { nonEmpty: true }) ?? []) : []) {
    const host = normalizeTenantHostname(h.value);
    if (!host.ok) reader.issue(h.node, h.field, host.message);
    else if (hostnames.some((o) => o.value === host.value)) warnings.push(`app ${label}: hostname ${host.value} is listed twice`);
    else hostnames.push({ ...h, value: host.value });
  }

  const idps: Array<Sourced<string>> = [];
  const idpsEntry = m.get('idps');
  if (!idpsEntry) reader.issue(node, `${field}.idps`, 'idps is required: list the ids of the identity providers users of this app may log in with');
  for (const id of idpsEntry ? (stringList(idpsEntry, `${field}.idps`, reader, { nonEmpty: true }) ?? []) : []) {
    if (idps.some((o) => o.value === id.value)) warnings.push(`app ${label}: idp ${id.value} is listed twice`);
    else idps.push(id);
  }

  const durationEntry = m.get('session_duration');
  const { sessionDurationSec: sd } = CONFIG_LIMITS;
  const sessionDurationSec = durationEntry ? reader.duration(durationEntry.value, `${field}.session_duration`, sd.min, sd.max) : undefined;

  const apiPaths: string[] = [];
  const apiEntry = m.get('api_paths');
  for (const p of apiEntry ? (stringList(apiEntry, `${field}.api_paths`, reader) ?? []) : []) {
    const problem = checkExemptPath(p.value);
    if (problem) reader.issue(p.node, p.field, problem);
    else if (!apiPaths.includes(p.value)) apiPaths.push(p.value);
  }

  const policies = readPolicies(m, node, field, reader, warnings, `app ${label}`);
  const launcherEntry = m.get('launcher');
  const launcher = launcherEntry ? readLauncher(launcherEntry.value, `${field}.launcher`, reader) : { hidden: false, displayName: undefined, logo: undefined, url: undefined };
  return { index, field, node, name, hostnames, idps, sessionDurationSec, apiPaths, policies, launcher };
}

/** `apps[].launcher`: how a self-hosted app's tile looks on the App Launcher. */
function readLauncher(node: Node | null, field: string, reader: NodeReader): RawLauncher {
  const m = reader.mapping(node, field, IDENTITY_KEYS.launcher);
  const hiddenEntry = m?.get('hidden');
  const nameEntry = m?.get('display_name');
  const logoEntry = m?.get('logo');
  const urlEntry = m?.get('url');
  return {
    hidden: (hiddenEntry && reader.boolean(hiddenEntry.value, `${field}.hidden`)) ?? false,
    displayName: nameEntry ? readDisplayName(nameEntry, `${field}.display_name`, reader) : undefined,
    logo: logoEntry ? readLogo(logoEntry, `${field}.logo`, reader) : undefined,
    url: urlEntry ? readLinkUrl(urlEntry, `${field}.url`, reader) : undefined,
  };
}

/** Where a launcher tile links: https (http only for loopback, as for service URLs), no credentials. */
function readLinkUrl(entry: Entry, field: string, reader: NodeReader): string | undefined {
  const text = reader.string(entry.value, field)?.trim();
  if (text === undefined) return undefined;
  const problem = checkBrowserUrl(text);
  if (problem === undefined) return text;
  reader.issue(entry.value, field, `url ${problem}`);
  return undefined;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A URL browsers are sent to (launcher links, SAML ACS URLs, OIDC redirect URIs):
 * absolute https, plain http only on loopback (tests), no user info and no fragment
 * (RFC 6749 §3.1.2 forbids fragments in redirect URIs). Returns the problem, if any.
 */
export function checkBrowserUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `must be an absolute URL such as https://app.example/; got '${text}'`;
  }
  if (url.protocol === 'http:' ? !LOOPBACK.has(url.hostname) : url.protocol !== 'https:') {
    return `must use https (plain http only for localhost, 127.0.0.1 and [::1]); got '${text}'`;
  }
  if (url.username !== '' || url.password !== '') return `must not carry a user name or password`;
  if (url.hash !== '' || text.includes('#')) return `must not have a fragment ('#'); got '${text}'`;
  return undefined;
}

const SHA256_HEX = /^[0-9a-f]{64}$/i;

function readServiceToken(node: Node | null, index: number, reader: NodeReader): RawServiceToken | undefined {
  const field = joinField('service_tokens', index);
  const m = reader.mapping(node, field, IDENTITY_KEYS.service_token, [], INLINE_TOKEN_SECRET);
  if (!m) return undefined;
  let id = required(m, 'id', node, field, reader, 'a short name for the token, used in policies (service_token: [id]) and logs');
  const problem = id && checkIdentifier('id', id.value);
  if (id && problem) {
    reader.issue(id.node, id.field, problem);
    id = undefined;
  }
  const clientId = required(m, 'client_id', node, field, reader, 'the value clients send in x-bouncer-client-id');
  let secretSha256: string | undefined;
  const hash = m.get('secret_sha256');
  if (!hash) reader.issue(node, `${field}.secret_sha256`, 'secret_sha256 is required: the hex SHA-256 of the token secret');
  else {
    // Not echoed: a secret pasted here instead of its hash must not reach logs.
    const n = reader.resolve(hash.value);
    const text = isScalar(n) && typeof n.value === 'string' ? n.value.trim() : '';
    if (SHA256_HEX.test(text)) secretSha256 = text.toLowerCase();
    else reader.issue(hash.value, `${field}.secret_sha256`, 'secret_sha256 must be 64 hexadecimal digits, the SHA-256 of the token secret (`printf %s "$SECRET" | sha256sum`); the value is not shown here in case it is the secret itself');
  }
  return { index, field, node, id, clientId, secretSha256 };
}
