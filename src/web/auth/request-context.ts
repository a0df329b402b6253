import type { FastifyRequest } from 'fastify';
import type { AuthConfig } from '../../config/types.js';
import type { RequestContext } from '../../core/identity.js';
import type { ReturnTarget } from '../../core/return-url.js';

/** What the app's policies see of a sign-in: the return URL's host and path, the client address and country. */
export function requestContext(req: FastifyRequest, auth: AuthConfig, rd: Pick<ReturnTarget, 'hostname' | 'path'>, nowMs: number): RequestContext {
  const countryHeader = auth.countryHeader !== undefined ? req.headers[auth.countryHeader] : undefined;
  const country = typeof countryHeader === 'string' && /^[A-Za-z]{2}$/.test(countryHeader) ? countryHeader.toUpperCase() : undefined;
  return {
    nowMs,
    host: rd.hostname,
    // Policies see the path without the query, as ext_authz's `path` selectors do.
    path: rd.path.split('?', 1)[0]!,
    method: 'GET',
    sourceIp: req.ip,
    country,
    // The auth domain sees no client certificate; certificate selectors are decided on the app host.
    certificate: undefined,
    serviceToken: undefined,
  };
}
