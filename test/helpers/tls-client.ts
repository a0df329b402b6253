import { request } from 'node:https';

export interface TlsRequest {
  port: number;
  /** TLS server name (SNI). */
  servername: string;
  /** Host header; defaults to the server name. */
  host?: string;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  cert?: string;
  key?: string;
  /** CA that signed Envoy's server certificate. */
  ca: string;
}

export interface TlsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

/** One HTTPS request over a fresh connection (no agent reuse), like a separate client. */
export function tlsRequest(r: TlsRequest): Promise<TlsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: r.port,
        servername: r.servername,
        path: r.path ?? '/',
        method: r.method ?? 'GET',
        headers: { host: r.host ?? r.servername, ...(r.headers ?? {}) },
        ca: r.ca,
        ...(r.cert ? { cert: r.cert, key: r.key } : {}),
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json<T>() {
              return JSON.parse(body) as T;
            },
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}
