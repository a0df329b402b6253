/**
 * The load-test topology, written down once: docker-compose.yml's `load`
 * profile must say exactly what {@link loadServices} says for the compose
 * addresses (test/unit/compose-topology.test.ts), and the native test
 * (test/integration/compose-load.test.ts) starts the same services, in the
 * same order, with the same commands and healthchecks, as local processes on
 * ephemeral ports. So what runs in CI is what `docker compose --profile load up` runs.
 */
import { ENVOY_VERSION } from '../envoy/locate.js';

/** The image the Dockerfile builds; one service builds it, every other bouncer-image service runs it. */
export const BOUNCER_IMAGE = 'bouncer:local';
/** The Dockerfile's ENTRYPOINT: a service without its own runs `bouncer <command>`. */
export const IMAGE_ENTRYPOINT: readonly string[] = ['node', 'dist/src/cli/bin.js'];
export const POSTGRES_IMAGE = 'postgres:17-bookworm';
export const REDIS_IMAGE = 'redis:7.4-bookworm';
export const ENVOY_IMAGE = `envoyproxy/envoy:v${ENVOY_VERSION}`;

/** Named volumes: what the setup writes (read-only for everyone else), and the replicas' shared session keys. */
export const LOAD_DATA = { volume: 'load-data', target: '/var/lib/bouncer/load' } as const;
export const LOAD_KEYS = { volume: 'load-keys', target: '/var/lib/bouncer/keys' } as const;

/** The two tenants, each with its own device CA, and the hostnames Envoy serves for them. */
export const LOAD_TENANTS = [
  { name: 'acme', host: 'pay.acme.test' },
  { name: 'globex', host: 'pay.globex.test' },
] as const;

/** Compose's database: a throwaway one for the load run, reachable only inside the compose network. */
const COMPOSE_PG = { user: 'bouncer', password: 'bouncer-load', database: 'bouncer' } as const;

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Where every service listens. In compose: service names and fixed ports; natively: loopback and ephemeral ports. */
export interface LoadAddresses {
  /** The address servers bind: all interfaces in a container, loopback natively. */
  readonly bind: string;
  readonly envoy: HostPort;
  /** Envoy's admin port; always on loopback (its healthcheck runs beside it). */
  readonly envoyAdminPort: number;
  readonly bouncers: ReadonlyArray<{ readonly host: string; readonly authzPort: number; readonly httpPort: number }>;
  readonly upstream: HostPort;
  readonly idp: HostPort;
  readonly postgresUrl: string;
  readonly redisUrl: string;
}

export const COMPOSE_ADDRESSES: LoadAddresses = {
  bind: '0.0.0.0',
  envoy: { host: 'load-envoy', port: 8443 },
  envoyAdminPort: 9901,
  bouncers: [
    { host: 'bouncer-1', authzPort: 9001, httpPort: 8080 },
    { host: 'bouncer-2', authzPort: 9001, httpPort: 8080 },
  ],
  upstream: { host: 'upstream', port: 8081 },
  idp: { host: 'idp', port: 8082 },
  postgresUrl: `postgres://${COMPOSE_PG.user}:${COMPOSE_PG.password}@postgres:5432/${COMPOSE_PG.database}`,
  redisUrl: 'redis://redis:6379',
};

/** How `load` runs in compose: long enough for steady figures on a laptop. */
export const COMPOSE_LOAD_RUN = { durationSeconds: 30, connections: 4 } as const;

export type Condition = 'service_healthy' | 'service_completed_successfully';

/** One service, in docker-compose's own terms (the fields the comparison reads). */
export interface LoadService {
  readonly name: string;
  readonly image: string;
  /** Only the one service that builds {@link BOUNCER_IMAGE}. */
  readonly build?: string;
  readonly entrypoint?: readonly string[];
  readonly command: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
  /** `volume:/target[:ro]` */
  readonly volumes: readonly string[];
  /** Published `host:container` ports. */
  readonly ports: readonly string[];
  /** Absent for one-shot jobs: their exit status is their health, and dependants wait for it. */
  readonly healthcheck?: { readonly test: readonly string[]; readonly interval: string; readonly timeout: string; readonly retries: number; readonly start_period: string };
  readonly restart: 'unless-stopped' | 'no';
  readonly depends_on: Readonly<Record<string, { readonly condition: Condition }>>;
  readonly profiles: readonly string[];
  /** How the native test provides it: run from this checkout, Envoy from ENVOY_BIN, or a server the test harness starts. */
  readonly native: 'node' | 'envoy' | 'harness';
}

const hostPort = (h: HostPort): string => `${h.host}:${h.port}`;

/** A healthcheck that asks a URL on loopback with the image's own Node (the image has no curl). */
function httpHealth(url: string): NonNullable<LoadService['healthcheck']> {
  return {
    test: ['CMD', 'node', '-e', `fetch(${JSON.stringify(url)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`],
    interval: '5s',
    timeout: '3s',
    retries: 10,
    start_period: '10s',
  };
}

/** Envoy's image has bash but no curl: read the admin `/ready` answer over /dev/tcp. */
function envoyHealth(adminPort: number): NonNullable<LoadService['healthcheck']> {
  return {
    test: ['CMD', 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${adminPort} && printf 'GET /ready HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && grep -q LIVE <&3`],
    interval: '5s',
    timeout: '3s',
    retries: 10,
    start_period: '5s',
  };
}

const healthy = { condition: 'service_healthy' } as const;
const done = { condition: 'service_completed_successfully' } as const;
const dataRo = `${LOAD_DATA.volume}:${LOAD_DATA.target}:ro`;
const EDGE_CA = `${LOAD_DATA.target}/certs/edge-ca.pem`;

/** The load generator's own arguments; compose runs it for a while, the native test for a fixed number of requests. */
export type LoadRun = { readonly durationSeconds: number; readonly connections: number } | { readonly requests: number; readonly connections: number };

function loadRunArgs(run: LoadRun): string[] {
  const size = 'requests' in run ? ['--requests', String(run.requests)] : ['--duration', String(run.durationSeconds)];
  return [...size, '--connections', String(run.connections)];
}

/**
 * The services of the `load` profile (and the demo upstream, which the `demo`
 * profile shares and which builds the image), in start order: each one's
 * dependencies come before it.
 */
export function loadServices(a: LoadAddresses, run: LoadRun = COMPOSE_LOAD_RUN): LoadService[] {
  const [b1, b2] = a.bouncers;
  if (!b1 || !b2 || a.bouncers.length !== 2) throw new Error('the load topology has exactly two bouncer replicas');
  const pg = new URL(a.postgresUrl);
  const load = ['load'];
  const replica = (name: string, b: { authzPort: number; httpPort: number }, after: Record<string, { condition: Condition }>): LoadService => ({
    name,
    image: BOUNCER_IMAGE,
    command: ['serve', '--config', `${LOAD_DATA.target}/bouncer.yaml`],
    environment: {
      BOUNCER_LISTEN_AUTHZ: `${a.bind}:${b.authzPort}`,
      BOUNCER_LISTEN_HTTP: `${a.bind}:${b.httpPort}`,
      // The demo IdP serves https with a certificate from the setup's edge CA (bouncer takes plain http from loopback IdPs only).
      NODE_EXTRA_CA_CERTS: EDGE_CA,
    },
    volumes: [dataRo, `${LOAD_KEYS.volume}:${LOAD_KEYS.target}`],
    ports: [],
    healthcheck: httpHealth(`http://127.0.0.1:${b.httpPort}/readyz`),
    restart: 'unless-stopped',
    depends_on: after,
    profiles: load,
    native: 'node',
  });
  return [
    {
      name: 'postgres',
      image: POSTGRES_IMAGE,
      command: [],
      environment: { POSTGRES_USER: decodeURIComponent(pg.username), POSTGRES_PASSWORD: decodeURIComponent(pg.password), POSTGRES_DB: pg.pathname.slice(1) },
      volumes: [],
      ports: [],
      healthcheck: { test: ['CMD', 'pg_isready', '-U', decodeURIComponent(pg.username), '-d', pg.pathname.slice(1)], interval: '5s', timeout: '3s', retries: 10, start_period: '10s' },
      restart: 'unless-stopped',
      depends_on: {},
      profiles: load,
      native: 'harness',
    },
    {
      name: 'redis',
      image: REDIS_IMAGE,
      command: [],
      environment: {},
      volumes: [],
      ports: [],
      healthcheck: { test: ['CMD', 'redis-cli', 'ping'], interval: '5s', timeout: '3s', retries: 10, start_period: '5s' },
      restart: 'unless-stopped',
      depends_on: {},
      profiles: load,
      native: 'harness',
    },
    {
      name: 'upstream',
      image: BOUNCER_IMAGE,
      build: '.',
      entrypoint: ['node', 'dist/src/demo/upstream.js'],
      command: [],
      environment: { HOST: a.bind, PORT: String(a.upstream.port) },
      volumes: [],
      ports: [],
      healthcheck: httpHealth(`http://127.0.0.1:${a.upstream.port}/`),
      restart: 'unless-stopped',
      depends_on: {},
      profiles: ['demo', 'load'],
      native: 'node',
    },
    {
      name: 'load-setup',
      image: BOUNCER_IMAGE,
      entrypoint: ['node', 'dist/src/load/setup.js'],
      command: [
        '--dir', LOAD_DATA.target,
        '--keys-dir', LOAD_KEYS.target,
        '--bind', a.bind,
        '--envoy', hostPort(a.envoy),
        '--envoy-admin-port', String(a.envoyAdminPort),
        '--authz', a.bouncers.map((b) => `${b.host}:${b.authzPort}`).join(','),
        '--auth-http', a.bouncers.map((b) => `${b.host}:${b.httpPort}`).join(','),
        '--upstream', hostPort(a.upstream),
        '--idp', hostPort(a.idp),
        '--postgres-url', a.postgresUrl,
        '--redis-url', a.redisUrl,
      ],
      environment: {},
      volumes: [`${LOAD_DATA.volume}:${LOAD_DATA.target}`],
      ports: [],
      restart: 'no',
      depends_on: { postgres: healthy },
      profiles: load,
      native: 'node',
    },
    {
      name: 'idp',
      image: BOUNCER_IMAGE,
      entrypoint: ['node', 'scripts/dev-idp.mjs'],
      command: [],
      environment: { DEV_IDP_CONFIG_FILE: `${LOAD_DATA.target}/idp.json`, NODE_EXTRA_CA_CERTS: EDGE_CA },
      volumes: [dataRo],
      ports: [],
      healthcheck: httpHealth(`https://127.0.0.1:${a.idp.port}/.well-known/openid-configuration`),
      restart: 'unless-stopped',
      depends_on: { 'load-setup': done },
      profiles: load,
      native: 'node',
    },
    // The first replica starts alone: it writes the first session signing key, which the second then reads.
    replica('bouncer-1', b1, { 'load-setup': done, redis: healthy, idp: healthy }),
    replica('bouncer-2', b2, { 'bouncer-1': healthy }),
    {
      name: 'load-envoy',
      image: ENVOY_IMAGE,
      command: ['envoy', '-c', `${LOAD_DATA.target}/envoy.yaml`],
      environment: {},
      volumes: [dataRo],
      ports: [],
      healthcheck: envoyHealth(a.envoyAdminPort),
      restart: 'unless-stopped',
      depends_on: { upstream: healthy, 'bouncer-1': healthy, 'bouncer-2': healthy },
      profiles: load,
      native: 'envoy',
    },
    {
      name: 'load',
      image: BOUNCER_IMAGE,
      entrypoint: ['node', 'dist/src/load/generator.js'],
      command: ['--dir', LOAD_DATA.target, '--envoy', hostPort(a.envoy), ...loadRunArgs(run)],
      environment: {},
      volumes: [dataRo],
      ports: [],
      restart: 'no',
      depends_on: { 'load-envoy': healthy },
      profiles: load,
      native: 'node',
    },
  ];
}
