import { stat } from 'node:fs/promises';
import { compilePolicies } from '../core/policy/compile.js';
import type { CompiledPolicy } from '../core/policy/types.js';
import { CONFIG_LIMITS } from './defaults.js';
import { describeFsError, readStamped } from './file-stamp.js';
import type { RawSecret } from './fields.js';
import type { RawApp } from './app-schema.js';
import type { RawIdentity } from './identity-schema.js';
import type { RawIdp } from './idp-schema.js';
import type { Anchor, NodeReader } from './node-reader.js';
import { locatePolicyNode, policyField } from './policy-location.js';
import type { Sourced } from './node-reader.js';
import { absolute } from './trust.js';
import type { AppConfig, AuthConfig, IdpConfig, ServiceTokenConfig } from './types.js';
import { hostnameCovers } from './values.js';

/** What {@link resolveIdentity} needs from the load in progress. */
export interface IdentityContext {
  /** Relative `client_secret_file`, `metadata_file` and `keys_dir` paths are resolved against it: the config file's directory. */
  readonly baseDir: string;
  /** Where `client_secret_env` variables are looked up. */
  readonly env: NodeJS.ProcessEnv;
  readonly reader: NodeReader;
  readonly warnings: string[];
  /** Receives each file read (absolute) with its stamp, so the watcher polls it. */
  readonly stamps: Map<string, string>;
}

/** The identity part of the config, complete only when the load recorded no issues. */
export interface IdentityResult {
  readonly auth: AuthConfig | undefined;
  readonly idps: IdpConfig[];
  readonly apps: AppConfig[];
  readonly serviceTokens: ServiceTokenConfig[];
  /** Secret and metadata files read, absolute, in the order the config names them. */
  readonly files: string[];
  /** Per app (same order), the policies as written, as JSON: compiled policies hold programs, not data, so reload compares these. */
  readonly policySources: string[];
}

/**
 * Checks what spans sections (app hostnames against each other and the auth
 * domain, app IdPs and policy selectors against what is defined), reads client
 * secrets and SAML metadata, and compiles every app's policies. Problems are
 * recorded on `ctx.reader`; no secret value ever goes into a message or warning.
 */
export async function resolveIdentity(raw: RawIdentity, ctx: IdentityContext): Promise<IdentityResult> {
  const { reader } = ctx;
  const files: string[] = [];
  if (raw.apps.length > 0 && raw.authKey === null) {
    reader.issue(raw.appsKey, 'auth', 'auth is required when apps are configured: it names the login service (auth.domain) apps send users to');
  } else if (raw.saasApps.length > 0 && raw.authKey === null) {
    reader.issue(raw.saasAppsKey, 'auth', 'auth is required when saas_apps are configured: the login service (auth.domain) is their SAML IdP and OpenID provider');
  }
  const auth = await resolveAuth(raw, ctx);
  const idps = await resolveIdps(raw, ctx, files);
  const tokenIds = checkServiceTokens(raw, reader);
  const apps: AppConfig[] = [];
  const policySources: string[] = [];
  for (const app of raw.apps) {
    const built = resolveApp(app, raw, tokenIds, auth, reader);
    if (built) {
      apps.push(built);
      policySources.push(JSON.stringify(app.policies?.items ?? []));
    }
  }
  checkAppsDistinct(raw, reader);

  const used = new Set([...raw.apps, ...raw.saasApps].flatMap((a) => a.idps.map((i) => i.value)));
  for (const idp of idps) if (!used.has(idp.id)) ctx.warnings.push(`idp ${idp.id} is not used by any app`);

  const serviceTokens: ServiceTokenConfig[] = [];
  for (const t of raw.serviceTokens) {
    if (t.id && t.clientId && t.secretSha256 !== undefined) serviceTokens.push({ id: t.id.value, clientId: t.clientId.value, secretSha256: t.secretSha256 });
  }
  return { auth, idps, apps, serviceTokens, files, policySources };
}

async function resolveAuth(raw: RawIdentity, ctx: IdentityContext): Promise<AuthConfig | undefined> {
  const a = raw.auth;
  if (!a) return undefined;
  let keysDir: string | undefined;
  if (a.keysDir) {
    keysDir = absolute(ctx.baseDir, a.keysDir.value);
    // A missing directory is fine (the key store creates it on first start); a file in its place is not.
    const s = await stat(keysDir).catch(() => undefined);
    if (s && !s.isDirectory()) ctx.reader.issue(a.keysDir.node, a.keysDir.field, `keys_dir ${keysDir} exists but is not a directory`);
  } else {
    ctx.warnings.push(
      'auth.session.keys_dir is not set: session signing keys are kept in memory, so every restart logs everyone out and several bouncer instances cannot verify each other\'s sessions',
    );
  }
  if (a.domain) {
    for (const app of raw.apps) {
      for (const h of app.hostnames) {
        if (!hostnameCovers(h.value, a.domain.value)) continue;
        const how = h.value === a.domain.value ? 'is also a hostname of' : `is covered by the hostname '${h.value}' of`;
        ctx.reader.issue(a.domain.node, a.domain.field, `auth domain '${a.domain.value}' ${how} app '${app.name?.value ?? app.field}'${lineNote(ctx.reader, h.node)}; the login service needs a hostname of its own`);
      }
    }
  }
  if (!a.domain) return undefined;
  return {
    domain: a.domain.value,
    ...(a.publicUrl !== undefined ? { publicUrl: a.publicUrl } : {}),
    sessionDurationSec: a.sessionDurationSec,
    keyRotationDays: a.keyRotationDays,
    keysDir,
    countryHeader: a.countryHeader,
    samlIdp: undefined,
  };
}

async function resolveIdps(raw: RawIdentity, ctx: IdentityContext, files: string[]): Promise<IdpConfig[]> {
  const out: IdpConfig[] = [];
  const byId = new Map<string, RawIdp>();
  for (const idp of raw.idps) {
    if (!idp.id) continue;
    const first = byId.get(idp.id.value);
    if (first) ctx.reader.issue(idp.id.node, idp.id.field, `idp id '${idp.id.value}' is already used by ${first.field}${lineNote(ctx.reader, first.id?.node)}; ids must be unique`);
    else byId.set(idp.id.value, idp);
  }
  for (const idp of raw.idps) {
    const id = idp.id?.value;
    switch (idp.type) {
      case 'oidc': {
        const clientSecret = await readSecret(idp.secret, ctx, files);
        if (id !== undefined && idp.issuer !== undefined && idp.clientId !== undefined && clientSecret !== undefined) {
          out.push({ id, type: 'oidc', preset: idp.preset, issuer: idp.issuer, clientId: idp.clientId, clientSecret, scopes: idp.scopes, groupsClaim: idp.groupsClaim, idTokenSigningAlgs: idp.idTokenSigningAlgs });
        }
        break;
      }
      case 'github': {
        const clientSecret = await readSecret(idp.secret, ctx, files);
        const { apiUrl, authorizeUrl, tokenUrl } = idp;
        if (id !== undefined && idp.clientId !== undefined && clientSecret !== undefined && apiUrl !== undefined && authorizeUrl !== undefined && tokenUrl !== undefined) {
          out.push({ id, type: 'github', clientId: idp.clientId, clientSecret, orgs: idp.orgs, apiUrl, authorizeUrl, tokenUrl });
        }
        break;
      }
      case 'saml': {
        const metadataXml = idp.metadataFile ? await readMetadata(idp.metadataFile, ctx, files) : undefined;
        let entityId = idp.entityId;
        if (entityId === undefined && id !== undefined) {
          const domain = raw.auth?.domain?.value;
          if (domain !== undefined) entityId = `https://${domain}/saml/${id}`;
          else if (!raw.authKey && raw.apps.length === 0) ctx.reader.issue(idp.node, `${idp.field}.entity_id`, 'entity_id is required when there is no auth section (it defaults to https://<auth.domain>/saml/<id>)');
        }
        if (id !== undefined && metadataXml !== undefined && entityId !== undefined) out.push({ id, type: 'saml', metadataXml, entityId });
        break;
      }
      default:
        break;
    }
  }
  return out;
}

/** The secret's value, trimmed; undefined (and an issue naming the variable or file, never the value) when there is none. */
export async function readSecret(secret: RawSecret | undefined, ctx: IdentityContext, files: string[]): Promise<string | undefined> {
  if (!secret) return undefined;
  if (secret.kind === 'env') {
    const value = ctx.env[secret.ref]?.trim();
    if (value === undefined || value === '') {
      ctx.reader.issue(secret.node, secret.field, `environment variable ${secret.ref} is ${value === undefined ? 'not set' : 'empty'}; it must hold the client secret`);
      return undefined;
    }
    return value;
  }
  const path = absolute(ctx.baseDir, secret.ref);
  const data = await readTracked(path, ctx, files, secret.node, secret.field, 'client secret file', CONFIG_LIMITS.secretFileMaxBytes);
  if (data === undefined) return undefined;
  const value = data.toString('utf8').trim();
  if (value === '') {
    ctx.reader.issue(secret.node, secret.field, `client secret file ${path} is empty`);
    return undefined;
  }
  return value;
}

// The root element, after an optional BOM, XML declaration and comments; namespace prefixes allowed.
const METADATA_ROOT = /^\uFEFF?\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--[\s\S]*?-->\s*)*<(?:[A-Za-z_][\w.-]*:)?(EntityDescriptor|EntitiesDescriptor)[\s>/]/;
const IDP_DESCRIPTOR = /<(?:[A-Za-z_][\w.-]*:)?IDPSSODescriptor[\s>/]/;

/**
 * A light check that the file is IdP metadata, so a wrong file (our own SP
 * metadata, an HTML error page saved by curl) fails at load rather than at the
 * first login. Signature and certificate checks are the SAML connector's.
 */
async function readMetadata(file: Sourced<string>, ctx: IdentityContext, files: string[]): Promise<string | undefined> {
  const path = absolute(ctx.baseDir, file.value);
  const data = await readTracked(path, ctx, files, file.node, file.field, 'SAML metadata file', CONFIG_LIMITS.samlMetadataMaxBytes);
  if (data === undefined) return undefined;
  const xml = data.toString('utf8');
  let problem: string | undefined;
  // A DOCTYPE is where entity-expansion and external-entity attacks live; real metadata never has one.
  if (/<!DOCTYPE/i.test(xml)) problem = 'contains a DOCTYPE, which SAML metadata never needs; refused to rule out XML entity attacks';
  else if (!METADATA_ROOT.test(xml)) problem = 'is not SAML metadata: its root element must be an EntityDescriptor (urn:oasis:names:tc:SAML:2.0:metadata)';
  else if (!IDP_DESCRIPTOR.test(xml)) problem = "has no IDPSSODescriptor: it describes no identity provider (is it a service provider's metadata?)";
  if (problem !== undefined) {
    ctx.reader.issue(file.node, file.field, `SAML metadata file ${path} ${problem}`);
    return undefined;
  }
  return xml.replace(/^\uFEFF/, '');
}

export async function readTracked(path: string, ctx: IdentityContext, files: string[], node: Anchor, field: string, what: string, maxBytes: number): Promise<Buffer | undefined> {
  const read = await readStamped(path);
  ctx.stamps.set(path, read.stamp);
  if (!files.includes(path)) files.push(path);
  if (!read.ok) {
    ctx.reader.issue(node, field, `cannot read ${what} ${path}: ${describeFsError(read.error)}`);
    return undefined;
  }
  if (read.data.length > maxBytes) {
    ctx.reader.issue(node, field, `${what} ${path} is ${read.data.length.toLocaleString('en-US')} bytes; at most ${maxBytes.toLocaleString('en-US')} are accepted`);
    return undefined;
  }
  return read.data;
}

/** Token ids must be unique (policies name them), and so must client ids (a request names a token by it). */
function checkServiceTokens(raw: RawIdentity, reader: NodeReader): Set<string> {
  const ids = new Map<string, Sourced<string>>();
  const clientIds = new Map<string, Sourced<string>>();
  for (const t of raw.serviceTokens) {
    for (const [value, seen, what] of [
      [t.id, ids, 'service token id'],
      [t.clientId, clientIds, 'client_id'],
    ] as const) {
      if (!value) continue;
      const first = seen.get(value.value);
      if (first) reader.issue(value.node, value.field, `${what} '${value.value}' is already used by ${first.field.replace(/\.[a-z_]+$/, '')}${lineNote(reader, first.node)}; it must be unique`);
      else seen.set(value.value, value);
    }
  }
  return new Set(ids.keys());
}

function resolveApp(app: RawApp, raw: RawIdentity, tokenIds: ReadonlySet<string>, auth: AuthConfig | undefined, reader: NodeReader): AppConfig | undefined {
  const defined = [...new Set(raw.idps.flatMap((i) => (i.id ? [i.id.value] : [])))];
  for (const ref of app.idps) {
    if (defined.includes(ref.value)) continue;
    const known = defined.length > 0 ? `defined: ${defined.join(', ')}` : 'no idps are defined';
    reader.issue(ref.node, ref.field, `idp '${ref.value}' is not defined in idps (${known})`);
  }
  let policies: CompiledPolicy[] | undefined;
  if (app.policies) {
    const compiled = compilePolicies(app.policies.items);
    if (compiled.ok) {
      policies = compiled.policies;
      checkPolicyReferences(app, tokenIds, reader);
    } else {
      for (const issue of compiled.issues) {
        reader.issue(locatePolicyNode(reader, app.policies.node, issue.path, issue.message), policyField(app.policies.field, issue.path), issue.message);
      }
    }
  }
  if (!app.name || !policies || app.hostnames.length === 0 || !auth) return undefined;
  return {
    name: app.name.value,
    hostnames: app.hostnames.map((h) => h.value),
    idps: app.idps.map((i) => i.value),
    sessionDurationSec: app.sessionDurationSec ?? auth.sessionDurationSec,
    apiPaths: [...app.apiPaths],
    policies,
    launcher: { hidden: app.launcher.hidden, displayName: app.launcher.displayName ?? app.name.value, logo: app.launcher.logo, url: app.launcher.url },
  };
}

/**
 * An `idp` selector naming an IdP the app does not offer, or a `service_token`
 * selector naming no token, can never match: almost always a typo that would
 * quietly lock people (or CI) out.
 */
export function checkPolicyReferences(app: Pick<RawApp, 'idps' | 'policies'>, tokenIds: ReadonlySet<string>, reader: NodeReader): void {
  if (!app.policies) return;
  const appIdps = app.idps.map((i) => i.value);
  app.policies.items.forEach((policy, pi) => {
    for (const rule of ['include', 'require', 'exclude'] as const) {
      const selectors = (policy as Record<string, unknown>)[rule];
      if (!Array.isArray(selectors)) continue;
      selectors.forEach((sel: unknown, si) => {
        const s = sel as Record<string, unknown>;
        for (const [kind, known, message] of [
          ['idp', appIdps, (v: string) => `idp '${v}' is not one of this app's idps (${appIdps.join(', ')}), so this selector can never match`],
          ['service_token', [...tokenIds], (v: string) => `service token '${v}' is not defined in service_tokens, so this selector can never match`],
        ] as const) {
          const values = s[kind];
          // An app without valid idps was reported already; every idp would be flagged.
          if (!Array.isArray(values) || (kind === 'idp' && appIdps.length === 0)) continue;
          values.forEach((v: unknown, vi) => {
            if (typeof v !== 'string' || known.includes(v.trim())) return;
            const path = [pi, rule, si, kind, vi];
            reader.issue(locatePolicyNode(reader, app.policies?.node ?? null, path, ''), policyField(app.policies?.field ?? '', path), message(v.trim()));
          });
        }
      });
    }
  });
}

/** App names are session audiences and must be unique; a hostname belongs to at most one app (else which policy applies would depend on order). */
function checkAppsDistinct(raw: RawIdentity, reader: NodeReader): void {
  const byName = new Map<string, RawApp>();
  const byHost = new Map<string, { app: RawApp; node: Anchor }>();
  for (const app of raw.apps) {
    if (app.name) {
      const first = byName.get(app.name.value);
      if (first) reader.issue(app.name.node, app.name.field, `app name '${app.name.value}' is already used by ${first.field}${lineNote(reader, first.name?.node)}; names must be unique`);
      else byName.set(app.name.value, app);
    }
    for (const h of app.hostnames) {
      const owner = byHost.get(h.value);
      if (owner && owner.app !== app) {
        reader.issue(h.node, h.field, `hostname '${h.value}' is claimed by both app '${owner.app.name?.value ?? owner.app.field}'${lineNote(reader, owner.node)} and app '${app.name?.value ?? app.field}'; a hostname belongs to at most one app`);
      } else byHost.set(h.value, { app, node: h.node });
    }
  }
}

export function lineNote(reader: NodeReader, node: Anchor): string {
  const { line } = reader.position(node);
  return line !== undefined ? ` (line ${line})` : '';
}
