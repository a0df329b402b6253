import { checkWorkersAllowed, workerAddresses } from '../../src/cli/workers.js';
import type { BouncerConfig } from '../../src/config/types.js';
import { buildEnvoyConfig } from '../../src/envoy/render.js';

const config = (over: Partial<BouncerConfig> = {}): BouncerConfig =>
  ({ listen: { authz: { host: '127.0.0.1', port: 9001 }, http: { host: '::1', port: 8080 } }, auth: undefined, store: { postgres: undefined, redis: undefined }, ...over }) as unknown as BouncerConfig;
const shared = { store: { postgres: undefined, redis: { url: 'redis://r' } }, auth: { keysDir: '/keys' } } as unknown as Partial<BouncerConfig>;

describe('workers', () => {
  test('worker i listens on the configured ports + i; port 0 stays any free port', () => {
    expect(workerAddresses(config(), 0)).toEqual({ authz: '127.0.0.1:9001', http: '[::1]:8080', admin: undefined });
    expect(workerAddresses(config(), 3)).toEqual({ authz: '127.0.0.1:9004', http: '[::1]:8083', admin: undefined });
    const withAdmin = config({ admin: { listen: { host: '127.0.0.1', port: 9002 }, tokens: [] } } as unknown as Partial<BouncerConfig>);
    expect(workerAddresses(withAdmin, 2).admin).toBe('127.0.0.1:9004');
    const zero = config({ listen: { authz: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } } } as Partial<BouncerConfig>);
    expect(workerAddresses(zero, 5)).toEqual({ authz: '127.0.0.1:0', http: '127.0.0.1:0', admin: undefined });
  });

  test.each<[string, BouncerConfig, number, RegExp | undefined]>([
    ['one worker with anything', config({ auth: {} } as Partial<BouncerConfig>), 1, undefined],
    ['several workers without auth', config(), 4, undefined],
    ['several workers with auth and no shared store: per-process session state', config({ auth: {} } as Partial<BouncerConfig>), 2, /needs store.redis and auth.session.keys_dir/],
    ['several workers with auth, Redis and shared keys', config(shared), 3, undefined],
    ['zero', config(), 0, /whole number/],
    ['not a number', config(), Number.NaN, /whole number/],
    ['port ranges that meet: worker 1 would bind what worker 0 holds', config({ listen: { authz: { host: 'h', port: 9001 }, http: { host: 'h', port: 9002 } } } as Partial<BouncerConfig>), 2, /listen.authz \(9001\) and listen.http \(9002\) must be at least 2 apart/],
    ['port ranges apart', config({ listen: { authz: { host: 'h', port: 9001 }, http: { host: 'h', port: 9003 } } } as Partial<BouncerConfig>), 2, undefined],
    ['several workers answering TLS-ALPN-01: one responder address', config({ hostnames: { acme: { challenges: ['http-01', 'tls-alpn-01'] } } } as unknown as Partial<BouncerConfig>), 2, /tls-alpn-01 in hostnames.acme.challenges/],
    ['one worker answering TLS-ALPN-01', config({ hostnames: { acme: { challenges: ['tls-alpn-01'] } } } as unknown as Partial<BouncerConfig>), 1, undefined],
    ['several workers answering HTTP-01 only', config({ hostnames: { acme: { challenges: ['http-01'] } } } as unknown as Partial<BouncerConfig>), 2, undefined],
    ['ports past 65535', config({ listen: { authz: { host: 'h', port: 65535 }, http: { host: 'h', port: 1 } } } as Partial<BouncerConfig>), 2, /past 65535/],
  ])('%s', (_name, cfg, count, error) => {
    if (error) expect(() => checkWorkersAllowed(cfg, count)).toThrow(error);
    else expect(() => checkWorkersAllowed(cfg, count)).not.toThrow();
  });

  test('envoy render lists one authz endpoint per worker', () => {
    const cfg = buildEnvoyConfig({ authzPort: 9001, authzWorkers: 3 }) as { static_resources: { clusters: Array<{ name: string; load_assignment: { endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { port_value: number } } } }> }> } }> } };
    const authz = cfg.static_resources.clusters.find((c) => c.name === 'bouncer_authz');
    expect(authz?.load_assignment.endpoints[0]?.lb_endpoints.map((e) => e.endpoint.address.socket_address.port_value)).toEqual([9001, 9002, 9003]);
    expect(() => buildEnvoyConfig({ authzPort: 65535, authzWorkers: 2 })).toThrow(/last authz worker port/);
  });
});
