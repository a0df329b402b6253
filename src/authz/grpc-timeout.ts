/**
 * The grpc-timeout request header ("PROTOCOL-HTTP2": `Timeout → "grpc-timeout"
 * TimeoutValue TimeoutUnit`, at most 8 digits, unit H, M, S, m, u or n). Envoy
 * sends it on every ext_authz call, set to its ext_authz timeout.
 */
const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/** Milliseconds the header allows, or undefined when it is malformed. */
export function parseGrpcTimeout(value: string): number | undefined {
  const n = value.length;
  if (n < 2 || n > 9) return undefined;
  const unit = UNIT_MS[value[n - 1] as string];
  if (unit === undefined) return undefined;
  let digits = 0;
  for (let i = 0; i < n - 1; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    digits = digits * 10 + c;
  }
  return digits * unit;
}
