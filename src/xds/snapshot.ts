import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import type { HostnameCatalog, ServedHostname } from '../core/served-hostname.js';
import { TYPE_URLS, type XdsTypeUrl } from './protos.js';
import {
  buildAcmeHttpListener,
  buildCertSecret,
  buildClientCaSecret,
  buildPublicListener,
  certSecretName,
  clientCaSecretName,
  PUBLIC_LISTENER,
  type BuiltResource,
  type PublicListenerSettings,
} from './resources.js';
import { buildFrontListener, buildHostnameCluster, buildInternalListener, internalRouteName } from './internal-mode.js';

/** A hostname bouncer refused to put in front of Envoy, and why. */
export interface HostnameProblem {
  readonly hostname: string;
  readonly reason: string;
}

/** Which resources of one type changed (added, changed or removed). */
export type ResourceChange = ReadonlyMap<XdsTypeUrl, readonly string[]>;

/** Lower-case DNS name, or `*.` and one; what Envoy accepts in `server_names`. */
const SERVER_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function checkHostname(h: ServedHostname): string | undefined {
  if (h.hostname.length > 253 || !SERVER_NAME.test(h.hostname)) return `not a lower-case DNS name or *.wildcard: ${JSON.stringify(h.hostname.slice(0, 80))}`;
  if (!h.certificateChainPem.includes('-----BEGIN CERTIFICATE-----')) return 'no PEM certificate in the chain';
  if (!h.privateKeyPem.includes('PRIVATE KEY-----')) return 'no PEM private key';
  // What bouncer can tell without Envoy: a key that does not match would be refused
  // by Envoy anyway; said here, with a clear reason, it never reaches Envoy.
  try {
    const leaf = new X509Certificate(h.certificateChainPem);
    if (!leaf.checkPrivateKey(createPrivateKey(h.privateKeyPem))) return 'the private key does not match the certificate';
  } catch (err) {
    return `unreadable certificate or key: ${(err as Error).message}`;
  }
  for (const pem of h.clientCaPems) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      return `unreadable client CA certificate: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/**
 * An order-independent digest of a set of (name, version) pairs, kept up to date in
 * O(1) per change: the XOR of each pair's SHA-256. Equal sets give equal digests, so
 * replicas agree on the system version without sorting every resource on each change.
 */
class SetDigest {
  private readonly acc = Buffer.alloc(32);
  toggle(name: string, version: string): void {
    const d = createHash('sha256').update(name).update('\0').update(version).digest();
    for (let i = 0; i < 32; i += 1) this.acc[i] = (this.acc[i] ?? 0) ^ (d[i] ?? 0);
  }
  value(): string {
    return this.acc.toString('base64url').slice(0, 22);
  }
}

/**
 * The resources bouncer serves, derived from the hostname catalog and kept current
 * per change: a changed certificate or CA list rebuilds that hostname's two secrets;
 * only adding or removing a hostname rebuilds the listener (its filter chains).
 */
export class XdsSnapshot {
  private readonly resources = new Map<XdsTypeUrl, Map<string, BuiltResource>>([
    [TYPE_URLS.listener, new Map()],
    [TYPE_URLS.cluster, new Map()],
    [TYPE_URLS.secret, new Map()],
  ]);
  private readonly digests = new Map<XdsTypeUrl, SetDigest>([
    [TYPE_URLS.listener, new SetDigest()],
    [TYPE_URLS.cluster, new SetDigest()],
    [TYPE_URLS.secret, new SetDigest()],
  ]);
  /** Internal mode: served wildcards, and the served hostnames that need a chain of the front listener (wildcards and names under one). */
  private readonly wildcards = new Set<string>();
  private readonly frontChains = new Set<string>();
  /** Hostnames with a chain in the listener. */
  private readonly served = new Set<string>();
  /** Hostnames left out of the listener by bouncer itself, by reason. */
  private readonly problems = new Map<string, string>();
  /** Hostnames whose certificate Envoy rejected: left out of the listener until their version changes. */
  private readonly rejectedVersions = new Map<string, string>();
  private readonly listeners = new Set<(change: ResourceChange) => void>();

  constructor(
    private readonly settings: PublicListenerSettings,
    private readonly catalog: HostnameCatalog,
  ) {
    const acme = buildAcmeHttpListener(settings);
    if (acme) this.put(TYPE_URLS.listener, acme);
    this.apply(
      catalog.list().map((h) => h.hostname),
      [],
    );
  }

  /** Called with the changed names after every change. */
  onChange(listener: (change: ResourceChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(typeUrl: XdsTypeUrl, name: string): BuiltResource | undefined {
    return this.resources.get(typeUrl)?.get(name);
  }

  names(typeUrl: XdsTypeUrl): IterableIterator<string> {
    return (this.resources.get(typeUrl) ?? new Map<string, BuiltResource>()).keys();
  }

  /** The system version of one type: a digest of every resource's name and version. */
  systemVersion(typeUrl: XdsTypeUrl): string {
    return this.digests.get(typeUrl)?.value() ?? '';
  }

  /** Hostnames bouncer keeps out of Envoy, with the reason. */
  hostnameProblems(): HostnameProblem[] {
    return [...this.problems].map(([hostname, reason]) => ({ hostname, reason }));
  }

  servedHostnames(): number {
    return this.served.size;
  }

  /**
   * Envoy refused a hostname's certificate secret: its chain leaves the listener (a
   * listener waiting on a secret that never loads would hold every later listener
   * update in warming), until the catalog brings a new version.
   */
  rejectSecret(secretName: string, version: string): void {
    const hostname = secretName.startsWith('cert/') ? secretName.slice(5) : secretName.startsWith('client-ca/') ? secretName.slice(10) : undefined;
    if (hostname === undefined || this.get(TYPE_URLS.secret, secretName)?.version !== version) return;
    const entry = this.catalog.get(hostname);
    if (!entry) return;
    this.rejectedVersions.set(hostname, entry.version);
    this.apply([hostname], []);
  }

  /** Applies one catalog change; O(changed hostnames) for secrets, plus one listener build if the chain set changed. */
  apply(upserted: readonly string[], removed: readonly string[]): void {
    const changedSecrets: string[] = [];
    const joined: string[] = [];
    const left: string[] = [];
    const leave = (hostname: string): void => {
      if (this.drop(hostname, changedSecrets)) left.push(hostname);
    };
    for (const hostname of removed) leave(hostname);
    for (const hostname of upserted) {
      const entry = this.catalog.get(hostname);
      if (!entry) {
        leave(hostname);
        continue;
      }
      const rejectedAt = this.rejectedVersions.get(hostname);
      if (rejectedAt !== undefined && rejectedAt !== entry.version) this.rejectedVersions.delete(hostname);
      // The auth domain has its own chain; a second one with the same name would make Envoy refuse the listener.
      const problem = hostname === this.settings.authDomain?.hostname ? 'is the login service\'s auth domain (auth.domain), which bouncer serves itself' : checkHostname(entry);
      let secrets: [BuiltResource, BuiltResource] | undefined;
      if (problem === undefined) {
        try {
          secrets = [buildCertSecret(entry), buildClientCaSecret(entry)];
        } catch (err) {
          this.problems.set(hostname, `cannot encode its secrets: ${(err as Error).message}`);
        }
      } else this.problems.set(hostname, problem);
      if (!secrets) {
        const reason = this.problems.get(hostname) as string;
        leave(hostname);
        this.problems.set(hostname, reason);
        continue;
      }
      this.problems.delete(hostname);
      for (const s of secrets) if (this.put(TYPE_URLS.secret, s)) changedSecrets.push(s.name);
      // The secrets stay served even while rejected, so Envoy's subscription resolves and reports.
      const inListener = !this.rejectedVersions.has(hostname);
      if (inListener && !this.served.has(hostname)) {
        this.served.add(hostname);
        joined.push(hostname);
      } else if (!inListener && this.served.delete(hostname)) left.push(hostname);
    }
    // Secrets first, then listeners, then clusters: the front listener routes to a
    // hostname only once its internal listener has been sent.
    const changes = new Map<XdsTypeUrl, string[]>();
    if (changedSecrets.length > 0) changes.set(TYPE_URLS.secret, changedSecrets);
    if (this.settings.listenerMode === 'internal') this.applyInternal(joined, left, changes);
    else {
      // Built at the start even with no hostname: the default chain serves unknown names.
      const rebuild = joined.length + left.length > 0 || !this.get(TYPE_URLS.listener, PUBLIC_LISTENER);
      if (rebuild && this.put(TYPE_URLS.listener, buildPublicListener(this.settings, [...this.served]))) changes.set(TYPE_URLS.listener, [PUBLIC_LISTENER]);
    }
    if (changes.size > 0) for (const l of this.listeners) l(changes);
  }

  /**
   * Internal mode: a hostname that joins or leaves is its own cluster and internal
   * listener, O(1) whatever the count; the front listener is rebuilt only when its
   * chains change (a wildcard, or an exact name under a served wildcard).
   */
  private applyInternal(joined: readonly string[], left: readonly string[], changes: Map<XdsTypeUrl, string[]>): void {
    const listeners: string[] = [];
    const clusters: string[] = [];
    let wildcardsChanged = false;
    for (const hostname of left) {
      const name = internalRouteName(hostname);
      if (this.remove(TYPE_URLS.listener, name)) listeners.push(name);
      if (this.remove(TYPE_URLS.cluster, name)) clusters.push(name);
      if (this.wildcards.delete(hostname)) wildcardsChanged = true;
    }
    for (const hostname of joined) {
      if (this.put(TYPE_URLS.listener, buildInternalListener(this.settings, hostname))) listeners.push(internalRouteName(hostname));
      if (this.put(TYPE_URLS.cluster, buildHostnameCluster(hostname))) clusters.push(internalRouteName(hostname));
      if (hostname.startsWith('*.')) {
        this.wildcards.add(hostname);
        wildcardsChanged = true;
      }
    }
    let frontChanged = false;
    if (wildcardsChanged) {
      const next = new Set([...this.served].filter((h) => this.needsFrontChain(h)));
      frontChanged = next.size !== this.frontChains.size || [...next].some((h) => !this.frontChains.has(h));
      this.frontChains.clear();
      for (const h of next) this.frontChains.add(h);
    } else {
      for (const hostname of left) frontChanged = this.frontChains.delete(hostname) || frontChanged;
      for (const hostname of joined) {
        if (this.needsFrontChain(hostname)) {
          this.frontChains.add(hostname);
          frontChanged = true;
        }
      }
    }
    const rebuild = frontChanged || !this.get(TYPE_URLS.listener, PUBLIC_LISTENER);
    if (rebuild && this.put(TYPE_URLS.listener, buildFrontListener(this.settings, [...this.frontChains]))) listeners.push(PUBLIC_LISTENER);
    if (listeners.length > 0) changes.set(TYPE_URLS.listener, listeners);
    if (clusters.length > 0) changes.set(TYPE_URLS.cluster, clusters);
  }

  /** A wildcard, or an exact name a served wildcard would catch first (Envoy's `*.` covers one or more labels). */
  private needsFrontChain(hostname: string): boolean {
    if (hostname.startsWith('*.')) return true;
    for (let i = hostname.indexOf('.'); i !== -1; i = hostname.indexOf('.', i + 1)) {
      if (this.wildcards.has(`*${hostname.slice(i)}`)) return true;
    }
    return false;
  }

  private drop(hostname: string, changedSecrets: string[]): boolean {
    this.problems.delete(hostname);
    this.rejectedVersions.delete(hostname);
    for (const name of [certSecretName(hostname), clientCaSecretName(hostname)]) if (this.remove(TYPE_URLS.secret, name)) changedSecrets.push(name);
    return this.served.delete(hostname);
  }

  /** True when the resource is new or its version changed. */
  private put(typeUrl: XdsTypeUrl, r: BuiltResource): boolean {
    const map = this.resources.get(typeUrl) as Map<string, BuiltResource>;
    const digest = this.digests.get(typeUrl) as SetDigest;
    const old = map.get(r.name);
    if (old?.version === r.version) return false;
    if (old) digest.toggle(old.name, old.version);
    digest.toggle(r.name, r.version);
    map.set(r.name, r);
    return true;
  }

  private remove(typeUrl: XdsTypeUrl, name: string): boolean {
    const map = this.resources.get(typeUrl) as Map<string, BuiltResource>;
    const old = map.get(name);
    if (!old) return false;
    (this.digests.get(typeUrl) as SetDigest).toggle(old.name, old.version);
    map.delete(name);
    return true;
  }
}
