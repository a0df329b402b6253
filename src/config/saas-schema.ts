/**
 * Shape checks of `saas_apps`: SaaS apps that trust bouncer as their SAML IdP or
 * OpenID provider. Files (SP metadata, SP certificate, client secret files) are
 * read and cross-references checked later, in `resolveSaasApps`.
 */
import { isMap, isScalar, type Node } from 'yaml';
import { CONFIG_LIMITS, SAAS_SAML_DEFAULTS } from './defaults.js';
import { readDisplayName, readLogo, readPolicies, readSecret, required, stringList, type RawPolicies, type RawSecret } from './fields.js';
import { joinField, type Entry, type NodeReader, type RefusedKeys, type Sourced } from './node-reader.js';
import type { SaasSamlAttribute, SaasSamlConfig, SaasTokenAuthMethod } from './types.js';
import { checkIdentifier } from './values.js';

/** Values of `saas_apps[].oidc.token_endpoint_auth_method`. */
const SAAS_TOKEN_AUTH_METHODS: readonly SaasTokenAuthMethod[] = ['client_secret_basic', 'client_secret_post'];

/** The keys of `saas_apps` entries; merged into `CONFIG_KEYS`. */
export const SAAS_KEYS = {
  saas_app: ['name', 'display_name', 'logo', 'hidden', 'idps', 'session_duration', 'policies', 'saml', 'oidc'],
  saas_saml: ['metadata_file', 'entity_id', 'acs_urls', 'name_id', 'attributes', 'sign', 'signature_algorithm', 'authn_requests_signed', 'sp_cert_file', 'signing'],
  saas_signing: ['cert_file', 'key_file'],
  name_id: ['format', 'source'],
  saas_oidc: ['client_id', 'client_secret_env', 'client_secret_file', 'redirect_uris', 'initiate_login_uri', 'token_endpoint_auth_method'],
} as const;

const NAMEID_FORMATS = ['emailAddress', 'persistent', 'unspecified'] as const;
const NAMEID_SOURCES = ['email', 'sub'] as const;
const SIGN_WHAT = ['response', 'assertion', 'both'] as const;
const SIGNATURE_ALGORITHMS = ['rsa-sha256', 'rsa-sha512'] as const;
const ATTRIBUTE_FIELDS = ['email', 'name', 'groups', 'sub', 'idp', 'amr'] as const;
const STATIC_PREFIX = 'static:';

const INLINE_SECRET: RefusedKeys = {
  client_secret: 'secrets are never written in the config file: use client_secret_env (the name of an environment variable) or client_secret_file (a file holding the secret)',
};

/** `saas_apps[].saml` as written; missing values may still come from `metadata_file`. */
export interface RawSaasSaml {
  readonly node: Node | null;
  readonly field: string;
  readonly metadataFile: Sourced<string> | undefined;
  readonly entityId: Sourced<string> | undefined;
  /** Undefined when not written (the metadata may supply them). */
  readonly acsUrls: ReadonlyArray<Sourced<string>> | undefined;
  readonly nameIdFormat: SaasSamlConfig['nameIdFormat'];
  readonly nameIdSource: SaasSamlConfig['nameIdSource'];
  readonly attributes: SaasSamlAttribute[];
  readonly sign: SaasSamlConfig['sign'];
  readonly signatureAlgorithm: SaasSamlConfig['signatureAlgorithm'];
  /** Undefined when not written: the metadata's `AuthnRequestsSigned` decides, else false. */
  readonly authnRequestsSigned: Sourced<boolean> | undefined;
  readonly spCertFile: Sourced<string> | undefined;
  /** This app's own signing pair, instead of the shared `auth.saml_idp` one. */
  readonly signing: { readonly cert: Sourced<string>; readonly key: Sourced<string> } | undefined;
}

/** `saas_apps[].oidc` as written. */
export interface RawSaasOidc {
  readonly node: Node | null;
  readonly field: string;
  readonly clientId: Sourced<string> | undefined;
  readonly secret: RawSecret | undefined;
  readonly redirectUris: ReadonlyArray<Sourced<string>>;
  readonly initiateLoginUri: Sourced<string> | undefined;
  readonly tokenEndpointAuthMethod: SaasTokenAuthMethod;
}

/** A SaaS app as written. Fields left undefined were missing or invalid, and that was reported. */
export interface RawSaasApp {
  readonly index: number;
  readonly field: string;
  readonly node: Node | null;
  readonly name: Sourced<string> | undefined;
  readonly displayName: string | undefined;
  readonly logo: string | undefined;
  readonly hidden: boolean;
  readonly idps: ReadonlyArray<Sourced<string>>;
  readonly sessionDurationSec: number | undefined;
  readonly policies: RawPolicies | undefined;
  readonly saml: RawSaasSaml | undefined;
  readonly oidc: RawSaasOidc | undefined;
  /** False when neither or both of saml / oidc were written (reported). */
  readonly protocolOk: boolean;
}

/**
 * Reads the `saas_apps` list out of the root mapping's entries.
 *
 * @example
 * const { apps, key } = readSaasAppsShape(top, reader, warnings);
 */
export function readSaasAppsShape(top: ReadonlyMap<string, Entry>, reader: NodeReader, warnings: string[]): { apps: RawSaasApp[]; key: Node | null } {
  const entry = top.get('saas_apps');
  if (!entry) return { apps: [], key: null };
  const apps: RawSaasApp[] = [];
  reader.list(entry.value, 'saas_apps')?.forEach((item, i) => {
    const app = readSaasApp(item, i, reader, warnings);
    if (app) apps.push(app);
  });
  return { apps, key: entry.key };
}

function readSaasApp(node: Node | null, index: number, reader: NodeReader, warnings: string[]): RawSaasApp | undefined {
  const field = joinField('saas_apps', index);
  const m = reader.mapping(node, field, SAAS_KEYS.saas_app);
  if (!m) return undefined;
  let name: Sourced<string> | undefined;
  const nameEntry = m.get('name');
  if (!nameEntry) reader.issue(node, `${field}.name`, 'name is required: a short name for the SaaS app, used in its SAML/launcher URLs, logs and the login URL');
  else {
    const text = reader.string(nameEntry.value, `${field}.name`);
    const problem = text === undefined ? undefined : checkIdentifier('name', text);
    if (problem) reader.issue(nameEntry.value, `${field}.name`, problem);
    else if (text !== undefined) name = { value: text, node: nameEntry.value, field: `${field}.name` };
  }
  const label = `saas app ${name?.value ?? field}`;

  const displayEntry = m.get('display_name');
  const logoEntry = m.get('logo');
  const hiddenEntry = m.get('hidden');

  const idps: Array<Sourced<string>> = [];
  const idpsEntry = m.get('idps');
  if (!idpsEntry) reader.issue(node, `${field}.idps`, 'idps is required: list the ids of the identity providers users of this app may log in with');
  for (const id of idpsEntry ? (stringList(idpsEntry, `${field}.idps`, reader, { nonEmpty: true }) ?? []) : []) {
    if (idps.some((o) => o.value === id.value)) warnings.push(`${label}: idp ${id.value} is listed twice`);
    else idps.push(id);
  }

  const durationEntry = m.get('session_duration');
  const { sessionDurationSec: sd } = CONFIG_LIMITS;
  const sessionDurationSec = durationEntry ? reader.duration(durationEntry.value, `${field}.session_duration`, sd.min, sd.max) : undefined;

  const policies = readPolicies(m, node, field, reader, warnings, label);

  const samlEntry = m.get('saml');
  const oidcEntry = m.get('oidc');
  let protocolOk = true;
  if (samlEntry && oidcEntry) {
    reader.issue(oidcEntry.key, `${field}.oidc`, 'give either saml or oidc, not both: one SaaS app speaks one protocol (configure two saas_apps for both)');
    protocolOk = false;
  } else if (!samlEntry && !oidcEntry) {
    reader.issue(node, `${field}.saml`, 'saml or oidc is required: how the SaaS app signs users in through bouncer');
    protocolOk = false;
  }
  return {
    index,
    field,
    node,
    name,
    displayName: displayEntry ? readDisplayName(displayEntry, `${field}.display_name`, reader) : undefined,
    logo: logoEntry ? readLogo(logoEntry, `${field}.logo`, reader) : undefined,
    hidden: (hiddenEntry && reader.boolean(hiddenEntry.value, `${field}.hidden`)) ?? false,
    idps,
    sessionDurationSec,
    policies,
    saml: samlEntry ? readSaml(samlEntry.value, `${field}.saml`, reader, warnings, label) : undefined,
    oidc: oidcEntry ? readOidc(oidcEntry.value, `${field}.oidc`, reader) : undefined,
    protocolOk,
  };
}

function readSaml(node: Node | null, field: string, reader: NodeReader, warnings: string[], label: string): RawSaasSaml | undefined {
  const m = reader.mapping(node, field, SAAS_KEYS.saas_saml);
  if (!m) return undefined;
  const text = (key: string): Sourced<string> | undefined => {
    const e = m.get(key);
    const v = e ? reader.string(e.value, `${field}.${key}`)?.trim() : undefined;
    return e && v !== undefined ? { value: v, node: e.value, field: `${field}.${key}` } : undefined;
  };
  const metadataFile = text('metadata_file');
  const entityId = text('entity_id');
  if (entityId && !URL.canParse(entityId.value)) {
    reader.issue(entityId.node, entityId.field, `entity_id must be a URI, as the SP's metadata gives it (entityID); got '${entityId.value}'`);
  }
  const acsEntry = m.get('acs_urls');
  const acsUrls = acsEntry ? stringList(acsEntry, `${field}.acs_urls`, reader, { nonEmpty: true }) : undefined;
  if (!metadataFile) {
    // Without metadata these two are the whole trust relationship.
    if (!entityId && !m.has('entity_id')) reader.issue(node, `${field}.entity_id`, "entity_id is required (or metadata_file): the SP's entity ID, the Audience of bouncer's assertions");
    if (!acsEntry) reader.issue(node, `${field}.acs_urls`, 'acs_urls is required (or metadata_file): the Assertion Consumer Service URLs assertions may be sent to');
  }

  let nameIdFormat: SaasSamlConfig['nameIdFormat'] = SAAS_SAML_DEFAULTS.nameIdFormat;
  let nameIdSource: SaasSamlConfig['nameIdSource'] | undefined;
  const nameIdEntry = m.get('name_id');
  if (nameIdEntry) {
    const n = reader.mapping(nameIdEntry.value, `${field}.name_id`, SAAS_KEYS.name_id);
    const f = n?.get('format');
    const s = n?.get('source');
    if (f) nameIdFormat = reader.oneOf(f.value, `${field}.name_id.format`, NAMEID_FORMATS) ?? nameIdFormat;
    if (s) nameIdSource = reader.oneOf(s.value, `${field}.name_id.source`, NAMEID_SOURCES);
    if (nameIdFormat === 'persistent' && nameIdSource === 'email') {
      warnings.push(`${label}: name_id format persistent with source email; a persistent NameID should not change, and email addresses do (source: sub is stable)`);
    }
  }
  // A persistent identifier must not change when the user's email does (SAML core §8.3.7); `sub` is the stable one.
  nameIdSource ??= nameIdFormat === 'persistent' ? 'sub' : 'email';

  let attributes: SaasSamlAttribute[] = [...SAAS_SAML_DEFAULTS.attributes];
  const attrEntry = m.get('attributes');
  if (attrEntry) attributes = readAttributes(attrEntry.value, `${field}.attributes`, reader);

  const oneOf = <T extends string>(key: string, values: readonly T[], fallback: T): T => {
    const e = m.get(key);
    return (e && reader.oneOf(e.value, `${field}.${key}`, values)) ?? fallback;
  };
  const signedEntry = m.get('authn_requests_signed');
  const signed = signedEntry ? reader.boolean(signedEntry.value, `${field}.authn_requests_signed`) : undefined;
  let signing: RawSaasSaml['signing'];
  const signingEntry = m.get('signing');
  if (signingEntry) {
    const sm = reader.mapping(signingEntry.value, `${field}.signing`, SAAS_KEYS.saas_signing);
    if (sm) {
      const cert = required(sm, 'cert_file', signingEntry.value, `${field}.signing`, reader, 'the PEM certificate this SaaS app pins for our signatures');
      const key = required(sm, 'key_file', signingEntry.value, `${field}.signing`, reader, 'the PEM private key of cert_file');
      if (cert && key) signing = { cert, key };
    }
  }
  return {
    signing,
    node,
    field,
    metadataFile,
    entityId,
    acsUrls,
    nameIdFormat,
    nameIdSource,
    attributes,
    sign: oneOf('sign', SIGN_WHAT, SAAS_SAML_DEFAULTS.sign),
    signatureAlgorithm: oneOf('signature_algorithm', SIGNATURE_ALGORITHMS, SAAS_SAML_DEFAULTS.signatureAlgorithm),
    authnRequestsSigned: signedEntry && signed !== undefined ? { value: signed, node: signedEntry.value, field: `${field}.authn_requests_signed` } : undefined,
    spCertFile: text('sp_cert_file'),
  };
}

/**
 * `attributes`: SAML attribute name → identity field, or `static:<value>`. Names are
 * kept to what an XML attribute value can hold without surprises (printable, no
 * control characters); samlify escapes them, this keeps configs readable.
 */
function readAttributes(node: Node | null, field: string, reader: NodeReader): SaasSamlAttribute[] {
  const n = reader.resolve(node);
  if (!isMap(n)) {
    reader.issue(n, field, `attributes must be a mapping of SAML attribute name to an identity field (${ATTRIBUTE_FIELDS.join(', ')}) or static:<value>`);
    return [];
  }
  const out: SaasSamlAttribute[] = [];
  for (const pair of n.items) {
    const key = pair.key as Node | null;
    const name = isScalar(key) && typeof key.value === 'string' ? key.value.trim() : undefined;
    const f = name === undefined ? field : joinField(field, name);
    if (name === undefined || name === '' || name.length > 256 || /\p{Cc}/u.test(name)) {
      reader.issue(key, f, 'SAML attribute names must be non-empty text of at most 256 characters without control characters');
      continue;
    }
    if (out.some((a) => a.name === name)) continue; // the YAML parser already reported the duplicate key
    const value = reader.string((pair.value as Node | null) ?? null, f);
    if (value === undefined) continue;
    if (value.startsWith(STATIC_PREFIX)) {
      out.push({ name, value: value.slice(STATIC_PREFIX.length) });
      continue;
    }
    const from = (ATTRIBUTE_FIELDS as readonly string[]).includes(value.trim()) ? (value.trim() as (typeof ATTRIBUTE_FIELDS)[number]) : undefined;
    if (from === undefined) reader.issue(pair.value as Node | null, f, `must be one of ${ATTRIBUTE_FIELDS.join(', ')}, or static:<value> for a fixed value; got '${value}'`);
    else out.push({ name, from });
  }
  return out;
}

function readOidc(node: Node | null, field: string, reader: NodeReader): RawSaasOidc | undefined {
  const m = reader.mapping(node, field, SAAS_KEYS.saas_oidc, [], INLINE_SECRET);
  if (!m) return undefined;
  const clientId = required(m, 'client_id', node, field, reader, 'the client_id the SaaS app is configured with');
  if (clientId && !/^[\x21-\x7e]{1,255}$/.test(clientId.value)) {
    reader.issue(clientId.node, clientId.field, 'client_id must be 1 to 255 printable ASCII characters without spaces');
  }
  const urisEntry = m.get('redirect_uris');
  if (!urisEntry) reader.issue(node, `${field}.redirect_uris`, "redirect_uris is required: the SaaS app's exact OIDC callback URLs");
  const redirectUris = urisEntry ? (stringList(urisEntry, `${field}.redirect_uris`, reader, { nonEmpty: true }) ?? []) : [];
  const initiateEntry = m.get('initiate_login_uri');
  const initiate = initiateEntry ? reader.string(initiateEntry.value, `${field}.initiate_login_uri`) : undefined;
  const initiateLoginUri = initiateEntry && initiate !== undefined ? { value: initiate, node: initiateEntry.value, field: `${field}.initiate_login_uri` } : undefined;
  const methodEntry = m.get('token_endpoint_auth_method');
  // client_secret_basic: the OAuth 2.0 default every client library speaks (RFC 6749 §2.3.1 "MUST support").
  const tokenEndpointAuthMethod = (methodEntry ? reader.oneOf(methodEntry.value, `${field}.token_endpoint_auth_method`, SAAS_TOKEN_AUTH_METHODS) : undefined) ?? 'client_secret_basic';
  return { node, field, clientId, secret: readSecret(m, node, field, reader), redirectUris, initiateLoginUri, tokenEndpointAuthMethod };
}
