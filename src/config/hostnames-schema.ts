/**
 * The `hostnames` section (docs/hostnames.md): customer hostnames with
 * certificates from an ACME CA or uploaded, their keys encrypted at rest with
 * a key-encryption key from a file or an environment variable. Paths are
 * resolved against the config file's directory; files are read when bouncer
 * starts, not here.
 */
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { ACME_CHALLENGE_TYPES, HOSTNAME_DEFAULTS, type AcmeChallengeType } from './defaults.js';
import type { Entry, NodeReader } from './node-reader.js';
import type { HostnamesConfig, HostPort } from './types.js';
import { parseListenAddress } from './values.js';

export const HOSTNAMES_KEYS = {
  hostnames: ['kek_file', 'kek_env', 'acme'],
  acme: ['directory_url', 'email', 'ca_file', 'expected_addresses', 'dns_servers', 'challenges', 'tls_alpn_listen'],
} as const;

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const DNS_SERVER = /^(?<ip>[0-9.]+|\[[0-9a-fA-F:]+\])(?::(?<port>\d{1,5}))?$/;

export function readHostnamesShape(top: ReadonlyMap<string, Entry>, reader: NodeReader): HostnamesConfig | undefined {
  const entry = top.get('hostnames');
  if (!entry) return undefined;
  const m = reader.mapping(entry.value, 'hostnames', HOSTNAMES_KEYS.hostnames);
  if (!m) return undefined;
  const baseDir = dirname(reader.file);
  const path = (e: Entry | undefined, field: string): string | undefined => {
    const text = e ? reader.string(e.value, field) : undefined;
    return text === undefined ? undefined : resolve(baseDir, text);
  };
  const kekFile = path(m.get('kek_file'), 'hostnames.kek_file');
  const envEntry = m.get('kek_env');
  let kekEnv: string = HOSTNAME_DEFAULTS.kekEnv;
  if (envEntry) {
    const name = reader.string(envEntry.value, 'hostnames.kek_env');
    if (name !== undefined && !ENV_NAME.test(name)) reader.issue(envEntry.value, 'hostnames.kek_env', `'${name}' is not an environment variable name (A-Z, 0-9, _)`);
    else if (name !== undefined) kekEnv = name;
  }
  if (kekFile !== undefined && envEntry) reader.issue(envEntry.value, 'hostnames.kek_env', 'set kek_file or kek_env, not both: the keyring has one source');

  let acme: HostnamesConfig['acme'];
  const acmeEntry = m.get('acme');
  const a = acmeEntry ? reader.mapping(acmeEntry.value, 'hostnames.acme', HOSTNAMES_KEYS.acme) : undefined;
  if (acmeEntry && a) {
    const dirEntry = a.get('directory_url');
    const directoryUrl = dirEntry ? reader.string(dirEntry.value, 'hostnames.acme.directory_url') : undefined;
    if (!dirEntry) reader.issue(acmeEntry.value, 'hostnames.acme.directory_url', "directory_url is required: the ACME CA's directory (https://acme-v02.api.letsencrypt.org/directory)");
    else if (directoryUrl !== undefined && !/^https:\/\/[^\s/@]+/.test(directoryUrl)) reader.issue(dirEntry.value, 'hostnames.acme.directory_url', `must be an https:// URL without credentials; got '${directoryUrl.slice(0, 80)}'`);
    const emailEntry = a.get('email');
    const email = emailEntry ? reader.string(emailEntry.value, 'hostnames.acme.email') : undefined;
    if (emailEntry && email !== undefined && !/^[^\s@]+@[^\s@]+$/.test(email)) reader.issue(emailEntry.value, 'hostnames.acme.email', `'${email}' is not an e-mail address`);
    const addresses: string[] = [];
    const addrEntry = a.get('expected_addresses');
    (addrEntry ? reader.list(addrEntry.value, 'hostnames.acme.expected_addresses', { nonEmpty: true }) : [])?.forEach((item, i) => {
      const ip = reader.string(item, `hostnames.acme.expected_addresses[${i}]`);
      if (ip !== undefined && isIP(ip) === 0) reader.issue(item, `hostnames.acme.expected_addresses[${i}]`, `'${ip}' is not an IP address`);
      else if (ip !== undefined) addresses.push(ip);
    });
    const servers: string[] = [];
    const serversEntry = a.get('dns_servers');
    (serversEntry ? reader.list(serversEntry.value, 'hostnames.acme.dns_servers', { nonEmpty: true }) : [])?.forEach((item, i) => {
      const text = reader.string(item, `hostnames.acme.dns_servers[${i}]`);
      const mm = text === undefined ? null : DNS_SERVER.exec(text);
      const ip = mm?.groups?.ip?.replace(/^\[|\]$/g, '');
      if (text !== undefined && (!mm || isIP(ip ?? '') === 0 || Number(mm.groups?.port ?? 53) > 65535)) reader.issue(item, `hostnames.acme.dns_servers[${i}]`, `'${text}' must be an IP address, optionally with :port`);
      else if (text !== undefined) servers.push(text);
    });
    if (serversEntry && !addrEntry) reader.issue(serversEntry.value, 'hostnames.acme.dns_servers', 'dns_servers is used only by the DNS check before ordering: set expected_addresses too');
    const challenges = readChallenges(a.get('challenges'), reader);
    const tlsAlpnListen = readTlsAlpnListen(a.get('tls_alpn_listen'), challenges, reader);
    if (directoryUrl !== undefined) {
      acme = {
        directoryUrl,
        email,
        caFile: path(a.get('ca_file'), 'hostnames.acme.ca_file'),
        expectedAddresses: addresses,
        dnsServers: servers,
        challenges,
        tlsAlpnListen,
      };
    }
  }
  return { kekFile, kekEnv, acme };
}

/**
 * `hostnames.acme.challenges`: the challenge types to answer, in preference order (the
 * first one the CA offers for a name is used). Absent: HTTP-01 only.
 */
function readChallenges(entry: Entry | undefined, reader: NodeReader): readonly AcmeChallengeType[] {
  if (!entry) return HOSTNAME_DEFAULTS.challenges;
  const field = 'hostnames.acme.challenges';
  const items = reader.list(entry.value, field, { nonEmpty: true });
  if (items === undefined) return HOSTNAME_DEFAULTS.challenges;
  const chosen: AcmeChallengeType[] = [];
  items.forEach((item, i) => {
    const type = reader.oneOf(item, `${field}[${i}]`, ACME_CHALLENGE_TYPES);
    if (type === undefined) return;
    if (chosen.includes(type)) reader.issue(item, `${field}[${i}]`, `'${type}' is listed twice; list each challenge type once, the preferred first`);
    else chosen.push(type);
  });
  return chosen.length > 0 ? chosen : HOSTNAME_DEFAULTS.challenges;
}

/** `hostnames.acme.tls_alpn_listen`: where bouncer's TLS-ALPN-01 responder listens; only meaningful with tls-alpn-01. */
function readTlsAlpnListen(entry: Entry | undefined, challenges: readonly AcmeChallengeType[], reader: NodeReader): HostPort {
  const fallback = { ...HOSTNAME_DEFAULTS.tlsAlpnListen };
  if (!entry) return fallback;
  const field = 'hostnames.acme.tls_alpn_listen';
  if (!challenges.includes('tls-alpn-01')) {
    reader.issue(entry.value, field, "tls_alpn_listen is used only by the TLS-ALPN-01 responder: add tls-alpn-01 to hostnames.acme.challenges, or leave tls_alpn_listen out");
    return fallback;
  }
  const text = reader.string(entry.value, field);
  if (text === undefined) return fallback;
  const parsed = parseListenAddress(text);
  if (parsed.ok) return parsed.value;
  reader.issue(entry.value, field, parsed.message);
  return fallback;
}
