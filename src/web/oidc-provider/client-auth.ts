import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { SaasAppConfig } from '../../config/types.js';
import { WEB_ERROR_STATUS } from '../http-status.js';

/**
 * Refuse a token request whose client authenticates otherwise than registered
 * (RFC 6749 §2.3.1; OIDC Core §9): oidc-provider takes either method for
 * either client. Basic is the Authorization header; post is `client_secret` in
 * the body, which is read here (at most 56 KB, oidc-provider's own limit) and
 * handed on to oidc-provider as if unread.
 *
 * @returns the request to hand on, or undefined when answered here.
 */
export async function checkClientAuthMethod(req: IncomingMessage, res: ServerResponse, appForClient: (clientId: string) => SaasAppConfig | undefined, logger: Logger): Promise<IncomingMessage | undefined> {
  const refuse = (description: string): undefined => {
    logger.info({ event: 'oidc.client_auth_refused', detail: description }, 'oidc request refused');
    res.writeHead(WEB_ERROR_STATUS.invalid_client, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ error: 'invalid_client', error_description: description }));
    return undefined;
  };
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const m = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
    // Malformed headers are oidc-provider's to refuse (invalid_request).
    const decoded = m === null ? undefined : Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded?.indexOf(':') ?? -1;
    if (decoded === undefined || colon < 0) return req;
    let clientId: string;
    try {
      clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
    } catch {
      return req;
    }
    const method = appForClient(clientId)?.oidc?.tokenEndpointAuthMethod ?? 'client_secret_basic';
    return method === 'client_secret_basic' ? req : refuse(`client ${clientId} is registered for ${method}, not client_secret_basic`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 56 * 1024) return refuse('request body too large');
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  const params = new URLSearchParams(body.toString('utf8'));
  const clientId = params.get('client_id');
  const app = clientId === null ? undefined : appForClient(clientId);
  if (app !== undefined && params.has('client_secret')) {
    const method = app.oidc?.tokenEndpointAuthMethod ?? 'client_secret_basic';
    if (method !== 'client_secret_post') return refuse(`client ${clientId} is registered for ${method}, not client_secret_post`);
  }
  // The same request, its body readable once more, for oidc-provider's parser.
  return Object.create(req, {
    readable: { value: true },
    readableEncoding: { value: null },
    iterator: { value: () => Readable.from([body]).iterator() },
  }) as IncomingMessage;
}
