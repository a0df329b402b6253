import { X509Certificate } from 'node:crypto';
import { sniProbe, type SniProbe } from './envoy-xds.js';
import { waitFor } from './ports.js';

/** The fields of a custom hostname (admin API `/v1/custom-hostnames/{name}`) the end-to-end tests read. */
export interface HostnameJson {
  state: string;
  reason: string | null;
  reason_detail: string | null;
  certificate: { issuer: string; dns_names: string[] } | null;
}

export interface HostnamesApi {
  /** One call under `/v1/custom-hostnames` with the admin token; the body parsed as JSON. */
  call(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<{ status: number; json: HostnameJson }>;
  /** Polls until the hostname is in `state`. */
  untilState(hostname: string, state: string, timeoutMs?: number): Promise<HostnameJson>;
}

/** The custom-hostnames admin API of a running bouncer; `adminPort` is read per call, as the server may start later. */
export function hostnamesApi(adminPort: () => number, token: string): HostnamesApi {
  const call: HostnamesApi['call'] = async (method, path, body) => {
    const res = await fetch(`http://127.0.0.1:${adminPort()}/v1/custom-hostnames${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as HostnameJson };
  };
  return {
    call,
    untilState: (hostname, state, timeoutMs = 30_000) =>
      waitFor(`${hostname} to be ${state}`, async () => {
        const { json } = await call('GET', `/${hostname}`);
        return json.state === state ? json : undefined;
      }, timeoutMs, 100),
  };
}

/**
 * Probes Envoy's listener on `port` with `openssl s_client -servername` until it presents,
 * for `hostname`, a certificate covering it, issued by `issuer` if given, other than `notSerial`.
 */
export function untilServedCertificate(port: number, hostname: string, o: { notSerial?: string | undefined; issuer?: RegExp; timeoutMs?: number | undefined } = {}): Promise<{ probe: SniProbe; leaf: X509Certificate }> {
  return waitFor(`Envoy to serve ${hostname}${o.notSerial ? ` with a certificate other than ${o.notSerial}` : ''}`, async () => {
    const probe = await sniProbe(port, hostname);
    if (probe.certificatePem === undefined) return undefined;
    const leaf = new X509Certificate(probe.certificatePem);
    if (leaf.checkHost(hostname) !== hostname || leaf.serialNumber === o.notSerial) return undefined;
    if (o.issuer !== undefined && !o.issuer.test(leaf.issuer)) return undefined;
    return { probe, leaf };
  }, o.timeoutMs ?? 30_000, 100);
}
