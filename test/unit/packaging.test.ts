// The places that name the Node release and what a build may see agree with
// each other: package.json, the Dockerfile and its .dockerignore, the Node
// that CI brings (scripts/bring-node.sh), and the @types/node we compile against.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';

const root = packageRoot();
const read = (file: string): string => readFileSync(join(root, file), 'utf8');
const pkg = JSON.parse(read('package.json')) as {
  name: string;
  bin: Record<string, string>;
  engines: { node: string };
  files: string[];
  devDependencies: Record<string, string>;
};
const dockerfile = read('Dockerfile');
const dockerignore = read('.dockerignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

/** Node's major in CI: the release scripts/bring-node.sh pins. */
const ciNode = /^NODE_VERSION=(\d+)\.(\d+)\.(\d+)$/m.exec(read('scripts/bring-node.sh'));

describe('Node release', () => {
  it('CI brings an exact Node 24 LTS release, checked against a pinned sha512 per architecture', () => {
    expect(ciNode?.[1]).toBe('24');
    const script = read('scripts/bring-node.sh');
    expect(script).toMatch(/\[x64\]='sha512-[A-Za-z0-9+/]{86}=='/);
    expect(script).toMatch(/\[arm64\]='sha512-[A-Za-z0-9+/]{86}=='/);
  });

  it('engines admit the Node CI runs on, and nothing older than 22.12 (cookie@2 and require(esm) need 22)', () => {
    const m = /^>=(\d+)\.(\d+)\.(\d+)$/.exec(pkg.engines.node);
    expect(m).not.toBeNull();
    expect([Number(m?.[1]), Number(m?.[2])]).toEqual([22, 12]);
    expect(Number(ciNode?.[1])).toBeGreaterThanOrEqual(Number(m?.[1]));
  });

  it('@types/node describes the Node major CI runs on', () => {
    expect(pkg.devDependencies['@types/node']).toMatch(new RegExp(`^\\^${ciNode?.[1]}\\.`));
  });

  it('the image is built and run on node:24 slim, pinned by digest, the same in every stage', () => {
    const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const image of froms) expect(image).toMatch(new RegExp(`^node:${ciNode?.[1]}-[a-z]+-slim@sha256:[0-9a-f]{64}$`));
    expect(new Set(froms).size).toBe(1);
  });
});

describe('package', () => {
  it('is published under a scoped name and keeps the `bouncer` command', () => {
    expect(pkg.name).toMatch(/^@[a-z0-9-]+\/bouncer$/);
    expect(pkg.bin).toEqual({ bouncer: 'dist/src/cli/bin.js' });
  });
});

describe('.dockerignore', () => {
  it('is an allow-list: everything is out unless named', () => {
    expect(dockerignore[0]).toBe('*');
    expect(dockerignore.slice(1).every((l) => l.startsWith('!'))).toBe(true);
  });

  const allowed = new Set(dockerignore.slice(1).map((l) => l.slice(1).replace(/\/$/, '')));

  it('lets in every file the Dockerfile copies from the context', () => {
    const sources = [...dockerfile.matchAll(/^COPY\s+(?!--from)(.+)$/gm)].flatMap((m) => {
      const parts = (m[1] ?? '').trim().split(/\s+/);
      return parts.slice(0, -1);
    });
    expect(sources.length).toBeGreaterThan(0);
    for (const src of sources) {
      const path = src.replace(/^\.\//, '');
      // A folder let in whole, or the very file.
      expect([path, path.split('/')[0]].some((p) => allowed.has(p ?? ''))).toBe(true);
    }
  });

  it('keeps private keys, dependencies, local builds and history out of the build context', () => {
    for (const never of ['.demo', 'node_modules', '.venv', '.cache', 'dist', '.git', 'test', 'bench', '.tmp']) {
      expect(allowed).not.toContain(never);
    }
  });
});
