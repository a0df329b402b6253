/**
 * Freezes plain objects and arrays all the way down, so a loaded config cannot be
 * changed by accident anywhere in the process (fastify freezes its options the
 * same way). Class instances (X509Certificate, KeyObject), Buffers, Maps and Sets
 * are left alone: freezing a Buffer throws, and the others are not plain data.
 * Already-frozen objects are skipped, which also makes shared parts cheap.
 *
 * @example
 * const config = deepFreeze({ listen: { authz: { host: '127.0.0.1', port: 9001 } } });
 * Object.isFrozen(config.listen.authz); // true
 */
export function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || Object.isFrozen(v) || !isPlain(v)) continue;
    Object.freeze(v);
    for (const child of Object.values(v)) stack.push(child);
  }
  return value;
}

function isPlain(v: object): boolean {
  if (Array.isArray(v)) return true;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
