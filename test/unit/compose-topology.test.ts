// docker-compose.yml's load profile says exactly what src/load/topology.ts says,
// which test/integration/compose-load.test.ts runs as local processes: services,
// images, commands, environment, mounts, published ports, healthchecks, restart
// policies, start order and profiles. No registry image can be pulled where the
// suite runs, so this is how the compose file is kept honest.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { BOUNCER_IMAGE, COMPOSE_ADDRESSES, LOAD_DATA, LOAD_KEYS, loadServices, type LoadService } from '../../src/load/topology.js';
import { packageRoot } from '../../src/paths.js';

type ComposeService = {
  image?: string;
  build?: string;
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: Record<string, unknown>;
  restart?: string;
  depends_on?: Record<string, { condition: string }>;
  profiles?: string[];
};

const root = packageRoot();
// Compose resolves `<<:` merge keys; so must the comparison.
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };
const described = loadServices(COMPOSE_ADDRESSES);

/** Both sides in one shape, absent lists and maps as empty ones. */
function fromCompose(s: ComposeService): Record<string, unknown> {
  return {
    image: s.image,
    build: s.build,
    entrypoint: s.entrypoint,
    command: s.command ?? [],
    environment: s.environment ?? {},
    volumes: s.volumes ?? [],
    ports: s.ports ?? [],
    healthcheck: s.healthcheck,
    restart: s.restart,
    depends_on: s.depends_on ?? {},
    profiles: s.profiles ?? [],
  };
}

function fromDescription(s: LoadService): Record<string, unknown> {
  return {
    image: s.image,
    build: s.build,
    entrypoint: s.entrypoint,
    command: s.command,
    environment: s.environment,
    volumes: s.volumes,
    ports: s.ports,
    healthcheck: s.healthcheck,
    restart: s.restart,
    depends_on: s.depends_on,
    profiles: s.profiles,
  };
}

describe('docker-compose.yml against src/load/topology.ts', () => {
  it('has exactly the described services in the load profile', () => {
    const inLoad = Object.entries(compose.services)
      .filter(([, s]) => s.profiles?.includes('load'))
      .map(([name]) => name);
    expect(inLoad.sort()).toEqual(described.map((s) => s.name).sort());
  });

  it.each(described.map((s) => [s.name, s] as const))('%s is as described: image, command, environment, mounts, ports, healthcheck, restart, depends_on, profiles', (name, s) => {
    const svc = compose.services[name];
    expect(svc).toBeDefined();
    expect(fromCompose(svc ?? {})).toEqual(fromDescription(s));
  });

  it('starts each service after what it depends on, as the native run does', () => {
    const seen = new Set<string>();
    for (const s of described) {
      for (const dep of Object.keys(s.depends_on)) expect(seen).toContain(dep);
      seen.add(s.name);
    }
  });

  it('builds the image once: one service builds it, every other service runs it', () => {
    const all = Object.entries(compose.services);
    const builders = all.filter(([, s]) => s.build !== undefined);
    expect(builders.map(([, s]) => [s.image, s.build])).toEqual([[BOUNCER_IMAGE, '.']]);
    // Every profile that runs the image starts the builder too.
    const builderProfiles = new Set(builders[0]?.[1].profiles ?? []);
    for (const [, s] of all.filter(([, x]) => x.image === BOUNCER_IMAGE)) for (const p of s.profiles ?? []) expect(builderProfiles).toContain(p);
  });

  it('declares the named volumes the services mount', () => {
    expect(Object.keys(compose.volumes ?? {}).sort()).toEqual([LOAD_DATA.volume, LOAD_KEYS.volume].sort());
    const mounted = new Set(
      Object.values(compose.services)
        .flatMap((s) => s.volumes ?? [])
        .map((v) => v.split(':')[0] ?? '')
        .filter((v) => !v.startsWith('.')),
    );
    expect([...mounted].sort()).toEqual([LOAD_DATA.volume, LOAD_KEYS.volume].sort());
  });

  it('gives every service a restart policy, and a healthcheck to every one that runs until stopped', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      expect({ name, restart: ['unless-stopped', 'no'].includes(s.restart ?? '') }).toEqual({ name, restart: true });
      if (s.restart !== 'no') expect({ name, test: Array.isArray(s.healthcheck?.test) }).toEqual({ name, test: true });
    }
  });

  it('every service belongs to a profile, so one profile never starts the other one\'s services', () => {
    for (const [name, s] of Object.entries(compose.services)) expect({ name, profiles: (s.profiles ?? []).length > 0 }).toEqual({ name, profiles: true });
  });

  it('the image carries what the load services run, and owns the folders their volumes mount', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^COPY scripts\/dev-idp\.mjs /m);
    for (const target of [LOAD_DATA.target, LOAD_KEYS.target]) expect(dockerfile).toContain(target);
  });
});
