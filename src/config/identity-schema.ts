/**
 * The identity sections after shape checks: `auth` (auth-schema.ts), `idps`
 * (idp-schema.ts), `apps` (app-schema.ts), `service_tokens`
 * (service-token-schema.ts) and `saas_apps` (saas-schema.ts); their keys are in
 * identity-keys.ts. Cross-references and files are checked later
 * (identity-resolve.ts, saas-resolve.ts).
 */
import { YAMLSeq, type Node } from 'yaml';
import { readApp, type RawApp } from './app-schema.js';
import { readAuth, type RawAuth } from './auth-schema.js';
import { readIdp, type RawIdp } from './idp-schema.js';
import type { Entry, NodeReader } from './node-reader.js';
import type { RawSaasApp } from './saas-schema.js';
import { readServiceToken, type RawServiceToken } from './service-token-schema.js';

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
