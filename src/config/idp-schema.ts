/** `idps`: the identity providers users sign in with (OIDC, GitHub, SAML). */
import { isMap, isScalar, type Node } from 'yaml';
import { CONFIG_DEFAULTS, ID_TOKEN_SIGNING_ALGS, OIDC_PRESETS, OIDC_PRESET_NAMES, type IdTokenSigningAlg } from './defaults.js';
import { readSecret, required, stringList, type RawSecret } from './fields.js';
import { IDENTITY_KEYS, IDP_TYPES, type RawIdpType } from './identity-keys.js';
import { joinField, type Entry, type NodeReader, type RefusedKeys, type Sourced } from './node-reader.js';
import { checkIdentifier, checkServiceUrl } from './values.js';

/**
 * Secrets written into the file would end up in Git, ConfigMaps and error
 * messages; these keys are refused with a pointer to the safe alternatives.
 */
const INLINE_SECRET: RefusedKeys = {
  client_secret: "secrets are never written in the config file: use client_secret_env (the name of an environment variable) or client_secret_file (a file holding the secret)",
};

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

export function readIdp(node: Node | null, index: number, reader: NodeReader): RawIdp {
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
