/**
 * Which incoming request ids bouncer passes on. A request id (Envoy's
 * `x-request-id`, a client's own) is echoed in headers, response bodies and log
 * lines; anything unusual (long, or with characters that could break a header
 * or a log line) is replaced by a fresh id by the adapter.
 */

/** Letters, digits and `._:-`, 1 to 128 characters: UUIDs, Envoy's ids and most tracing ids fit. */
export const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Whether `value` may be used as a request id as it is.
 *
 * @example
 * const id = isSafeRequestId(req.headers['x-request-id']) ? req.headers['x-request-id'] : randomUUID();
 */
export function isSafeRequestId(value: unknown): value is string {
  return typeof value === 'string' && SAFE_REQUEST_ID.test(value);
}
