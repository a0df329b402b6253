/**
 * Second pass over `saas_apps` and `auth.saml_idp`: reads SP metadata, SP
 * certificates, client secrets and the IdP signing key; checks references (idps,
 * policy selectors) and uniqueness across `apps` and `saas_apps`; compiles policies.
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { compilePolicies } from '../core/policy/compile.js';
import type { CompiledPolicy } from '../core/policy/types.js';
import { parseSpMetadata } from './saml-sp-metadata.js';
import { CONFIG_LIMITS } from './defaults.js';
import { checkPolicyReferences, lineNote, readSecret, readTracked, type IdentityContext, type IdentityResult } from './identity-resolve.js';
import type { RawIdentity } from './identity-schema.js';
import { checkBrowserUrl } from './values.js';
import { locatePolicyNode, policyField } from './policy-location.js';
import type { RawSaasApp, RawSaasSaml } from './saas-schema.js';
import type { Sourced } from './node-reader.js';
import { absolute } from './trust.js';
import type { AuthConfig, SaasAppConfig, SaasOidcConfig, SaasSamlConfig } from './types.js';

/** What {@link resolveSaasApps} adds to the identity part of the config. */
export interface SaasResult {
  readonly saasApps: SaasAppConfig[];
  /** `auth.saml_idp`, read and checked; undefined when not configured. */
  readonly samlIdp: AuthConfig['samlIdp'];
  /** Files read (SP metadata, SP certificates, secrets, IdP key), absolute. */
  readonly files: string[];
  /** Per SaaS app (same order), the policies as written, as JSON (for reload comparison). */
  readonly policySources: string[];
}

/** A PEM file is a few KiB; 1 MiB catches pointing at the wrong file. */
const PEM_MAX_BYTES = 1024 * 1024;

/**
 * Resolves `saas_apps` and `auth.saml_idp`. Problems are recorded on `ctx.reader`;
 * secret and key material never appears in messages.
 *
 * @example
 * const identity = await resolveIdentity(raw.identity, ctx);
 * const saas = await resolveSaasApps(raw.identity, identity, ctx, Date.now());
 */
export async function resolveSaasApps(raw: RawIdentity, identity: IdentityResult, ctx: IdentityContext, now: number): Promise<SaasResult> {
  const files: string[] = [];
  const samlIdp = raw.auth?.samlIdp ? await readSigningPair(raw.auth.samlIdp, ctx, files, now) : undefined;
  checkNamesDistinct(raw, ctx);
  const tokenIds = new Set(raw.serviceTokens.flatMap((t) => (t.id ? [t.id.value] : [])));
  const defined = [...new Set(raw.idps.flatMap((i) => (i.id ? [i.id.value] : [])))];
  const saasApps: SaasAppConfig[] = [];
  const policySources: string[] = [];
  const clientIds = new Map<string, Sourced<string>>();
  for (const app of raw.saasApps) {
    for (const ref of app.idps) {
      if (defined.includes(ref.value)) continue;
      ctx.reader.issue(ref.node, ref.field, `idp '${ref.value}' is not defined in idps (${defined.length > 0 ? `defined: ${defined.join(', ')}` : 'no idps are defined'})`);
    }
    const policies = compileAppPolicies(app, tokenIds, ctx);
    const saml = app.saml ? await resolveSaml(app.saml, ctx, files, now) : undefined;
    const oidc = app.oidc ? await resolveOidc(app, clientIds, ctx, files) : undefined;
    if (!app.name || !policies || !app.protocolOk || app.idps.length === 0 || !identity.auth || (app.saml && !saml) || (app.oidc && !oidc)) continue;
    saasApps.push({
      name: app.name.value,
      displayName: app.displayName ?? app.name.value,
      logo: app.logo,
      hidden: app.hidden,
      idps: app.idps.map((i) => i.value),
      sessionDurationSec: app.sessionDurationSec ?? identity.auth.sessionDurationSec,
      policies,
      saml,
      oidc,
    });
    policySources.push(JSON.stringify(app.policies?.items ?? []));
  }
  return { saasApps, samlIdp, files, policySources };
}

function compileAppPolicies(app: RawSaasApp, tokenIds: ReadonlySet<string>, ctx: IdentityContext): CompiledPolicy[] | undefined {
  if (!app.policies) return undefined;
  const compiled = compilePolicies(app.policies.items);
  if (compiled.ok) {
    checkPolicyReferences(app, tokenIds, ctx.reader);
    return compiled.policies;
  }
  for (const issue of compiled.issues) {
    ctx.reader.issue(locatePolicyNode(ctx.reader, app.policies.node, issue.path, issue.message), policyField(app.policies.field, issue.path), issue.message);
  }
  return undefined;
}

/**
 * SaaS app names share the namespace of app names: both appear in `/login?app=`,
 * session audiences and logs, so one name must mean one thing.
 */
function checkNamesDistinct(raw: RawIdentity, ctx: IdentityContext): void {
  const seen = new Map<string, Sourced<string>>();
  for (const a of raw.apps) if (a.name && !seen.has(a.name.value)) seen.set(a.name.value, a.name);
  const saasSeen = new Set<string>();
  for (const s of raw.saasApps) {
    if (!s.name) continue;
    const first = seen.get(s.name.value);
    if (first) {
      const what = saasSeen.has(s.name.value) ? 'saas app' : 'app';
      ctx.reader.issue(s.name.node, s.name.field, `name '${s.name.value}' is already used by ${what} ${first.field.replace(/\.name$/, '')}${lineNote(ctx.reader, first.node)}; names must be unique across apps and saas_apps`);
    } else {
      seen.set(s.name.value, s.name);
      saasSeen.add(s.name.value);
    }
  }
}

async function resolveSaml(s: RawSaasSaml, ctx: IdentityContext, files: string[], now: number): Promise<SaasSamlConfig | undefined> {
  const { reader } = ctx;
  let fromMeta: ReturnType<typeof parseSpMetadata> | undefined;
  if (s.metadataFile) {
    const path = absolute(ctx.baseDir, s.metadataFile.value);
    const data = await readTracked(path, ctx, files, s.metadataFile.node, s.metadataFile.field, 'SAML SP metadata file', CONFIG_LIMITS.samlMetadataMaxBytes);
    if (data === undefined) return undefined;
    fromMeta = parseSpMetadata(data.toString('utf8').replace(/^\uFEFF/, ''));
    if (!fromMeta.ok) {
      reader.issue(s.metadataFile.node, s.metadataFile.field, `SAML SP metadata file ${path} ${fromMeta.message}`);
      return undefined;
    }
  }
  const meta = fromMeta?.ok === true ? fromMeta.value : undefined;

  // Written values win over the metadata's: operators pin what they checked.
  const entityId = s.entityId?.value ?? meta?.entityId;
  if (s.entityId && !URL.canParse(s.entityId.value)) return undefined;
  const acsUrls: string[] = [];
  let acsOk = true;
  for (const u of s.acsUrls ?? []) {
    const problem = checkBrowserUrl(u.value);
    if (problem) {
      reader.issue(u.node, u.field, `ACS URL ${problem}`);
      acsOk = false;
    } else if (!acsUrls.includes(u.value)) acsUrls.push(u.value);
  }
  if (s.acsUrls === undefined && meta) {
    for (const u of meta.acsUrls) {
      const problem = checkBrowserUrl(u);
      if (problem && s.metadataFile) {
        reader.issue(s.metadataFile.node, s.metadataFile.field, `the SP metadata's AssertionConsumerService ${problem}; list the ACS URLs in acs_urls instead`);
        acsOk = false;
      } else acsUrls.push(u);
    }
  }
  if (entityId === undefined || acsUrls.length === 0 || !acsOk) return undefined;

  let spCertPem = meta?.signingCertPem;
  if (s.spCertFile) {
    const path = absolute(ctx.baseDir, s.spCertFile.value);
    const data = await readTracked(path, ctx, files, s.spCertFile.node, s.spCertFile.field, 'SP certificate file', PEM_MAX_BYTES);
    if (data === undefined) return undefined;
    try {
      spCertPem = new X509Certificate(data).toString();
    } catch {
      reader.issue(s.spCertFile.node, s.spCertFile.field, `SP certificate file ${path} is not a PEM certificate`);
      return undefined;
    }
  }
  const authnRequestsSigned = s.authnRequestsSigned?.value ?? meta?.authnRequestsSigned ?? false;
  if (authnRequestsSigned && spCertPem === undefined) {
    // Fail closed: without the SP's certificate, "requests must be signed" could not be checked.
    reader.issue(s.authnRequestsSigned?.node ?? s.node, s.authnRequestsSigned?.field ?? `${s.field}.authn_requests_signed`, "authn_requests_signed needs the SP's signing certificate: set sp_cert_file, or a metadata_file with a signing KeyDescriptor");
    return undefined;
  }
  const signing = s.signing ? await readSigningPair(s.signing, ctx, files, now) : undefined;
  if (s.signing && !signing) return undefined;
  return {
    entityId,
    acsUrls,
    signing,
    nameIdFormat: s.nameIdFormat,
    nameIdSource: s.nameIdSource,
    attributes: s.attributes,
    sign: s.sign,
    signatureAlgorithm: s.signatureAlgorithm,
    authnRequestsSigned,
    spCertPem,
  };
}

async function resolveOidc(app: RawSaasApp, clientIds: Map<string, Sourced<string>>, ctx: IdentityContext, files: string[]): Promise<SaasOidcConfig | undefined> {
  const o = app.oidc;
  if (!o) return undefined;
  const clientSecret = await readSecret(o.secret, ctx, files);
  let ok = true;
  if (o.clientId) {
    const first = clientIds.get(o.clientId.value);
    if (first) {
      // The provider finds the client by id; two apps with one id would share tokens.
      ctx.reader.issue(o.clientId.node, o.clientId.field, `client_id '${o.clientId.value}' is already used by ${first.field.replace(/\.oidc\.client_id$/, '')}${lineNote(ctx.reader, first.node)}; it must be unique`);
      ok = false;
    } else clientIds.set(o.clientId.value, o.clientId);
  }
  const redirectUris: string[] = [];
  for (const u of o.redirectUris) {
    const problem = checkBrowserUrl(u.value);
    if (problem) {
      ctx.reader.issue(u.node, u.field, `redirect URI ${problem}`);
      ok = false;
    } else if (!redirectUris.includes(u.value)) redirectUris.push(u.value);
  }
  let initiateLoginUri: string | undefined;
  if (o.initiateLoginUri) {
    const problem = checkBrowserUrl(o.initiateLoginUri.value);
    if (problem) {
      ctx.reader.issue(o.initiateLoginUri.node, o.initiateLoginUri.field, `initiate_login_uri ${problem}`);
      ok = false;
    } else initiateLoginUri = o.initiateLoginUri.value;
  }
  if (!ok || !o.clientId || clientSecret === undefined || redirectUris.length === 0) return undefined;
  return { clientId: o.clientId.value, clientSecret, redirectUris, initiateLoginUri, tokenEndpointAuthMethod: o.tokenEndpointAuthMethod };
}

/**
 * `auth.saml_idp`: a PEM certificate and its private key. The key must be RSA of
 * at least 2048 bits (assertions are signed RSA-SHA256 or -SHA512) and must belong
 * to the certificate, or every SP would reject every assertion.
 */
async function readSigningPair(pair: { cert: Sourced<string>; key: Sourced<string> }, ctx: IdentityContext, files: string[], now: number): Promise<AuthConfig['samlIdp']> {
  const { reader } = ctx;
  const certPath = absolute(ctx.baseDir, pair.cert.value);
  const keyPath = absolute(ctx.baseDir, pair.key.value);
  const certData = await readTracked(certPath, ctx, files, pair.cert.node, pair.cert.field, 'SAML IdP certificate file', PEM_MAX_BYTES);
  const keyData = await readTracked(keyPath, ctx, files, pair.key.node, pair.key.field, 'SAML IdP key file', PEM_MAX_BYTES);
  if (certData === undefined || keyData === undefined) return undefined;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certData);
  } catch {
    reader.issue(pair.cert.node, pair.cert.field, `SAML IdP certificate file ${certPath} is not a PEM certificate`);
    return undefined;
  }
  let keyPem: string;
  try {
    const key = createPrivateKey(keyData);
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (key.asymmetricKeyType !== 'rsa' || bits < CONFIG_LIMITS.minRsaBits) {
      reader.issue(pair.key.node, pair.key.field, `SAML IdP key file ${keyPath} must hold an RSA key of at least ${CONFIG_LIMITS.minRsaBits} bits (got ${key.asymmetricKeyType ?? 'unknown'}${bits ? ` ${bits}` : ''})`);
      return undefined;
    }
    const fromKey = createPublicKey(key).export({ type: 'spki', format: 'der' });
    if (!fromKey.equals(cert.publicKey.export({ type: 'spki', format: 'der' }))) {
      reader.issue(pair.key.node, pair.key.field, `SAML IdP key file ${keyPath} does not belong to the certificate in ${certPath}`);
      return undefined;
    }
    keyPem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
  } catch {
    // Not echoing the parser's message: it can quote parts of the file.
    reader.issue(pair.key.node, pair.key.field, `SAML IdP key file ${keyPath} is not an unencrypted PEM private key`);
    return undefined;
  }
  if (Date.parse(cert.validTo) < now) ctx.warnings.push(`auth.saml_idp: the certificate in ${certPath} expired on ${cert.validTo}; SPs that check it will refuse logins`);
  return { certPem: cert.toString(), keyPem };
}
