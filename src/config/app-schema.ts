/** `apps`: the self-hosted apps users sign in to, and their App Launcher tiles. */
import type { Node } from 'yaml';
import { CONFIG_LIMITS } from './defaults.js';
import { readDisplayName, readLogo, readPolicies, stringList, type RawPolicies } from './fields.js';
import { IDENTITY_KEYS } from './identity-keys.js';
import { joinField, type Entry, type NodeReader, type Sourced } from './node-reader.js';
import { checkExemptPath, normalizeTenantHostname } from '../core/tenant-names.js';
import { checkBrowserUrl, checkIdentifier } from './values.js';

/** `apps[].launcher` with defaults filled in, except `displayName`, which defaults to the app name later. */
export interface RawLauncher {
  readonly hidden: boolean;
  readonly displayName: string | undefined;
  readonly logo: string | undefined;
  readonly url: string | undefined;
}

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

export function readApp(node: Node | null, index: number, reader: NodeReader, warnings: string[]): RawApp | undefined {
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
