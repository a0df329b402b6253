import { buildTenantIndex, normalizeHost, resolveTenant } from '../../src/core/tenant-index.js';
import type { Tenant } from '../../src/core/tenant.js';

function tenant(name: string, hostnames: string[]): Tenant {
  return { name, hostnames, mtls: { mode: 'off', trust: null, exemptPaths: [] } };
}

describe('normalizeHost', () => {
  test.each([
    ['pay.acme.example', 'pay.acme.example'],
    ['PAY.Acme.Example', 'pay.acme.example'],
    ['pay.acme.example:8443', 'pay.acme.example'],
    ['pay.acme.example.', 'pay.acme.example'],
    ['pay.acme.example.:443', 'pay.acme.example'],
    ['[::1]:8443', '::1'],
    ['[::1]', '::1'],
    ['127.0.0.1:80', '127.0.0.1'],
    ['', ''],
    ['user@pay.acme.example', ''],
    ['pay.acme.example:port', ''],
    ['pay acme', ''],
    ['pay.acme.example\r\nx: y', ''],
    ['-bad.example', ''],
    ['a..b', ''],
    ['[::1', ''],
    ['[::1]x', ''],
    ['x'.repeat(300), ''],
  ])('%j → %j', (input, expected) => {
    expect(normalizeHost(input)).toBe(expected);
  });
});

describe('resolveTenant', () => {
  const acme = tenant('acme', ['pay.acme.example', '*.api.acme.example']);
  const globex = tenant('globex', ['pay.globex.example', 'eu.api.acme.example']);
  const index = buildTenantIndex([acme, globex]);

  test.each([
    ['pay.acme.example', 'acme'],
    ['us.api.acme.example', 'acme'],
    // An exact name wins over a wildcard that also covers it.
    ['eu.api.acme.example', 'globex'],
    ['pay.globex.example', 'globex'],
    // A wildcard covers exactly one label.
    ['a.b.api.acme.example', undefined],
    ['api.acme.example', undefined],
    ['acme.example', undefined],
    ['unknown.example', undefined],
    ['localhost', undefined],
  ])('%s → %s', (host, expected) => {
    expect(resolveTenant(index, host)?.name).toBe(expected);
  });

  test('lookup cost does not grow with the tenant count', () => {
    const many: Tenant[] = [];
    for (let i = 0; i < 100_000; i++) many.push(tenant(`t${i}`, [`pay.c${i}.example`, `*.api.c${i}.example`]));
    const big = buildTenantIndex(many);
    expect(big.size).toBe(100_000);
    expect(big.exact.size).toBe(100_000);
    expect(big.wildcard.size).toBe(100_000);
    expect(resolveTenant(big, 'pay.c99999.example')?.name).toBe('t99999');
    expect(resolveTenant(big, 'x.api.c54321.example')?.name).toBe('t54321');
    expect(resolveTenant(big, 'pay.c100000.example')).toBeUndefined();

    // Count the map reads a lookup makes: at most two (exact, then one wildcard
    // suffix), whether there are ten tenants or a hundred thousand.
    let reads = 0;
    const counting = <V>(m: ReadonlyMap<string, V>): ReadonlyMap<string, V> =>
      Object.assign(Object.create(m) as ReadonlyMap<string, V>, {
        get: (k: string) => {
          reads++;
          return m.get(k);
        },
      });
    for (const n of [10, 100_000]) {
      const idx = buildTenantIndex(many.slice(0, n));
      const probe = { ...idx, exact: counting(idx.exact), wildcard: counting(idx.wildcard) };
      for (const host of ['pay.c5.example', 'deep.x.api.c5.example', 'x.api.c5.example', 'nope.example', 'a.b.c.d.e.f.g.example']) {
        reads = 0;
        resolveTenant(probe, host);
        expect(reads).toBeLessThanOrEqual(2);
      }
    }
  });
});
