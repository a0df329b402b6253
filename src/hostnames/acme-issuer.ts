/**
 * Obtains a certificate for one hostname from an ACME CA (RFC 8555) with the
 * HTTP-01 or the TLS-ALPN-01 (RFC 8737) challenge, the first of the configured
 * types the CA offers, using acme-client for the protocol (JWS, nonces,
 * directory, polling). The key authorization goes into the hostname store,
 * from which every replica answers: the web service at
 * `/.well-known/acme-challenge/<token>` (HTTP-01), the TLS-ALPN-01 responder
 * (tls-alpn-responder.ts) with a validation certificate built from it. So it
 * does not matter which replica Envoy sends the CA's connection to.
 *
 * acme-client turns CA problem documents into plain Error messages; the
 * problem's type (rateLimited, dns, connection…) and Retry-After are caught
 * on the way by a response interceptor and attributed to the issuance that
 * made the request through AsyncLocalStorage, so failures map to specific reasons.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { generateKeyPairSync } from 'node:crypto';
import { Agent } from 'node:https';
import acme from 'acme-client';
import type { Logger } from 'pino';
import { HOSTNAME_DEFAULTS } from '../config/defaults.js';
import type { AcmeChallengeType } from '../config/types.js';
import { parseCertificateDerComplete, splitPemCertificates } from '../core/cert-parse.js';
import { classifyAcmeFailure, parseRetryAfter, type AcmeProblem, type AcmeStage } from './acme-problems.js';
import type { KekRing } from './key-envelope.js';
import type { HostnameReason } from './lifecycle.js';
import type { HostnameStore, StoredAccount } from './store.js';

export interface AcmeSettings {
  /** The CA's directory URL (`https://acme-v02.api.letsencrypt.org/directory`). */
  readonly directoryUrl: string;
  /** Contact for the account (`mailto:` is added). */
  readonly email?: string | undefined;
  /** PEM of the CA(s) that sign the ACME server's own TLS certificate, for a private or test CA; the system's otherwise. */
  readonly caPem?: string | undefined;
  readonly pollMinMs?: number | undefined;
  readonly pollMaxMs?: number | undefined;
  readonly pollAttempts?: number | undefined;
  /** Challenge types to answer, preferred first; default HTTP-01 only. */
  readonly challenges?: readonly AcmeChallengeType[] | undefined;
}

export type IssueOutcome =
  | { readonly ok: true; readonly chainPem: string; readonly privateKeyPem: string; readonly notBefore: number; readonly notAfter: number }
  | { readonly ok: false; readonly reason: HostnameReason; readonly detail: string; readonly retryAfterMs: number | undefined };

export interface AcmeIssuer {
  readonly directoryUrl: string;
  /**
   * Runs one order to its end. `resumeOrderUrl` continues an order another
   * attempt (or replica) started; `saveOrder` is told the URL of a new order
   * before anything else happens with it.
   */
  issue(hostname: string, resumeOrderUrl: string | null, saveOrder: (url: string) => Promise<void>): Promise<IssueOutcome>;
}

export interface AcmeIssuerDeps {
  readonly settings: AcmeSettings;
  readonly store: HostnameStore;
  readonly keys: KekRing;
  readonly clock: () => number;
  readonly logger: Logger;
}

/** The context an ACME account key's envelope is bound to. */
export const accountContext = (directoryUrl: string): string => `acme-account|${directoryUrl}`;

const problems = new AsyncLocalStorage<AcmeProblem[]>();
let interceptorInstalled = false;

/** Remembers every problem document a CA answers with, for the issuance that asked. */
function installProblemInterceptor(): void {
  if (interceptorInstalled) return;
  interceptorInstalled = true;
  // bouncer retries with its own backoff and reasons; the library's retries would hold a worker for minutes.
  (acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts = 0;
  acme.axios.interceptors.response.use((response) => {
    const sink = problems.getStore();
    const data = response.data as { type?: unknown; detail?: unknown; status?: unknown; error?: { type?: unknown; detail?: unknown } } | undefined;
    if (sink && data && typeof data === 'object') {
      const retryAfterMs = parseRetryAfter(response.headers['retry-after'] as string | undefined, Date.now());
      if (response.status >= 400 && typeof data.type === 'string') {
        sink.push({ type: data.type, detail: typeof data.detail === 'string' ? data.detail : '', status: response.status, retryAfterMs });
      } else if (data.status === 'invalid' && data.error && typeof data.error.type === 'string') {
        // An invalid challenge, authorization or order carries its problem in `error` (RFC 8555 §7.1.4, §7.1.6).
        sink.push({ type: data.error.type, detail: typeof data.error.detail === 'string' ? data.error.detail : '', status: undefined, retryAfterMs });
      }
    }
    return response;
  });
}

/** A fresh key for each certificate: ECDSA P-256, which every client and Envoy accept. */
function newCertificateKey(): string {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/**
 * The first type in `preference` that the CA offers for an authorization (RFC 8555 §7.1.4:
 * the client picks one). acme-client's types know HTTP-01 and DNS-01 only; its calls take
 * a TLS-ALPN-01 challenge all the same (RFC 8737 §3 keeps the challenge object's shape).
 */
function pickChallenge(offered: acme.Authorization['challenges'], preference: readonly AcmeChallengeType[]): { challenge: acme.Authorization['challenges'][number]; type: AcmeChallengeType } | undefined {
  for (const type of preference) {
    const challenge = offered.find((ch) => (ch.type as string) === type);
    if (challenge) return { challenge, type };
  }
  return undefined;
}

export function createAcmeIssuer(deps: AcmeIssuerDeps): AcmeIssuer {
  installProblemInterceptor();
  const { settings } = deps;
  const preference = settings.challenges ?? HOSTNAME_DEFAULTS.challenges;
  if (settings.caPem !== undefined) {
    // acme-client has one HTTP client per process: one ACME CA per bouncer process.
    acme.axios.defaults.httpsAgent = new Agent({ ca: settings.caPem, keepAlive: true });
  }
  let client: acme.Client | undefined;

  const clientFor = async (): Promise<acme.Client> => {
    if (client) return client;
    const create = async (): Promise<StoredAccount> => {
      const key = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
      const fresh = new acme.Client({ directoryUrl: settings.directoryUrl, accountKey: key });
      await fresh.createAccount({ termsOfServiceAgreed: true, ...(settings.email ? { contact: [`mailto:${settings.email}`] } : {}) });
      deps.logger.info({ directory: settings.directoryUrl, account: fresh.getAccountUrl() }, 'hostnames: ACME account created');
      return { directoryUrl: settings.directoryUrl, accountUrl: fresh.getAccountUrl(), sealedKey: deps.keys.seal(key, accountContext(settings.directoryUrl)) };
    };
    const account = await deps.store.account(settings.directoryUrl, create);
    client = new acme.Client({
      directoryUrl: settings.directoryUrl,
      accountKey: deps.keys.open(account.sealedKey, accountContext(settings.directoryUrl)),
      accountUrl: account.accountUrl,
      backoffMin: settings.pollMinMs ?? HOSTNAME_DEFAULTS.pollMinMs,
      backoffMax: settings.pollMaxMs ?? HOSTNAME_DEFAULTS.pollMaxMs,
      backoffAttempts: settings.pollAttempts ?? HOSTNAME_DEFAULTS.pollAttempts,
    });
    return client;
  };

  const resume = async (c: acme.Client, url: string): Promise<acme.Order | undefined> => {
    try {
      const order = await c.getOrder({ url } as acme.Order);
      // A valid or processing order's key was generated by the attempt that finalised it and is gone: order again.
      return order.status === 'pending' || order.status === 'ready' ? order : undefined;
    } catch {
      return undefined;
    }
  };

  return {
    directoryUrl: settings.directoryUrl,
    async issue(hostname, resumeOrderUrl, saveOrder) {
      const seen: AcmeProblem[] = [];
      const tokens: string[] = [];
      // Assigned inside the callback below; the cast keeps TypeScript from narrowing it to 'account'.
      let stage = 'account' as AcmeStage;
      let challengeType: AcmeChallengeType | undefined;
      try {
        return await problems.run(seen, async (): Promise<IssueOutcome> => {
          const c = await clientFor();
          stage = 'order';
          let order = resumeOrderUrl === null ? undefined : await resume(c, resumeOrderUrl);
          if (order === undefined) {
            order = await c.createOrder({ identifiers: [{ type: 'dns', value: hostname }] });
            await saveOrder(order.url);
          }
          if (order.status === 'pending') {
            for (const authz of await c.getAuthorizations(order)) {
              if (authz.status === 'valid') continue;
              const picked = pickChallenge(authz.challenges, preference);
              if (!picked) return { ok: false, reason: 'ca_refused', detail: `the CA offers none of ${preference.join(', ')} for ${authz.identifier.value}`, retryAfterMs: undefined };
              const { challenge, type } = picked;
              const keyAuthorization = await c.getChallengeKeyAuthorization(challenge);
              // Stored before the CA is told to look, so every replica can answer its first connection.
              await deps.store.putChallenge(challenge.token, keyAuthorization, hostname, deps.clock() + HOSTNAME_DEFAULTS.challengeTtlMs, type);
              tokens.push(challenge.token);
              challengeType = type;
              stage = 'challenge';
              if (challenge.status === 'pending') await c.completeChallenge(challenge);
              await c.waitForValidStatus(challenge);
              stage = 'order';
            }
            // The polled resource does not carry its own URL; later steps need it.
            order = { ...(await c.waitForValidStatus(order)), url: order.url };
          }
          stage = 'finalize';
          const privateKeyPem = newCertificateKey();
          // The CN field holds at most 64 characters; longer names go in the SAN only, as CAs do anyway.
          const [, csr] = await acme.crypto.createCsr({ altNames: [hostname], ...(hostname.length <= 64 ? { commonName: hostname } : {}) }, privateKeyPem);
          const finalized = await c.finalizeOrder(order, csr);
          const valid = { ...(await c.waitForValidStatus({ ...finalized, url: order.url })), url: order.url };
          const chainPem = await c.getCertificate(valid);
          const leafDer = splitPemCertificates(chainPem)[0];
          if (leafDer === undefined) return { ok: false, reason: 'ca_refused', detail: 'the CA answered with no certificate', retryAfterMs: undefined };
          const leaf = parseCertificateDerComplete(leafDer);
          return { ok: true, chainPem, privateKeyPem, notBefore: leaf.notBefore, notAfter: leaf.notAfter };
        });
      } catch (err) {
        const classified = classifyAcmeFailure(stage, seen[seen.length - 1], err);
        // Which challenge failed matters to the operator: HTTP-01 needs port 80, TLS-ALPN-01 port 443.
        const detail = stage === 'challenge' && challengeType !== undefined ? `${challengeType}: ${classified.detail}`.slice(0, 500) : classified.detail;
        return { ok: false, ...classified, detail };
      } finally {
        for (const token of tokens) await deps.store.deleteChallenge(token).catch(() => undefined);
      }
    },
  };
}
