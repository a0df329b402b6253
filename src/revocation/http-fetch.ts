import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BouncerError } from '../core/errors.js';

/** Why a fetch failed; each is a `reason` label on the revocation metrics. */
export type FetchFailure = 'timeout' | 'too_large' | 'http_status' | 'network' | 'bad_url';

export class RevocationFetchError extends BouncerError {
  readonly failure: FetchFailure;

  constructor(failure: FetchFailure, message: string, options?: { cause?: unknown }) {
    super('ERR_REVOCATION_FETCH', message, options);
    this.failure = failure;
  }
}

export interface FetchOptions {
  readonly method: 'GET' | 'POST';
  readonly body?: Buffer | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Whole exchange, connect to last byte. */
  readonly timeoutMs: number;
  /** Largest body read; a longer one (announced or streamed) is refused. */
  readonly maxBytes: number;
}

export interface FetchResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * One HTTP(S) exchange with a deadline and a body size limit, for OCSP
 * responders and CRL distribution points. Redirects are not followed (RFC 5280
 * and RFC 6960 name the exact location); `304` is returned as is.
 *
 * @example
 * ```ts
 * const { body } = await fetchBounded('http://crl.example/ca.crl', { method: 'GET', timeoutMs: 5000, maxBytes: 8 << 20 });
 * ```
 */
export function fetchBounded(url: string, options: FetchOptions): Promise<FetchResult> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    return Promise.reject(new RevocationFetchError('bad_url', `not a URL: ${url}`, { cause: err }));
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return Promise.reject(new RevocationFetchError('bad_url', `only http and https are fetched, not ${parsed.protocol}`));
  }
  const send = parsed.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<FetchResult>((resolve, reject) => {
    let settled = false;
    const finish = (err: RevocationFetchError | undefined, result?: FetchResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(result as FetchResult);
    };
    const headers: Record<string, string> = { ...options.headers };
    if (options.body) headers['content-length'] = String(options.body.length);
    const req = send(parsed, { method: options.method, headers });
    const timer = setTimeout(() => finish(new RevocationFetchError('timeout', `${url} did not answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    req.on('error', (err) => finish(new RevocationFetchError('network', `${url}: ${err.message}`, { cause: err })));
    req.on('response', (res) => {
      const announced = Number(res.headers['content-length']);
      if (Number.isFinite(announced) && announced > options.maxBytes) {
        finish(new RevocationFetchError('too_large', `${url} announced ${announced} bytes; the limit is ${options.maxBytes}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) finish(new RevocationFetchError('too_large', `${url} sent more than ${options.maxBytes} bytes`));
        else chunks.push(chunk);
      });
      res.on('error', (err) => finish(new RevocationFetchError('network', `${url}: ${err.message}`, { cause: err })));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status !== 200 && status !== 304) finish(new RevocationFetchError('http_status', `${url} answered HTTP ${status}`));
        else finish(undefined, { status, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    req.end(options.body);
  });
}
