// bouncer against `openssl verify -x509_strict -policy_check -policy anyPolicy
// -purpose sslclient -attime` on the generated corpus of differential-cases.ts
// (OpenSSL skips RFC 5280 policy processing unless asked, bouncer always does
// it; `-policy anyPolicy` is RFC 5280's default user-initial-policy-set, which
// OpenSSL otherwise leaves empty). Every disagreement must
// be listed, with its justification, in differential-exceptions.ts, and every
// listed one must still disagree.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { verifyClientChain } from '../../src/core/cert-path.js';
import { DIFFERENTIAL_CASES, MUTATED_CASES, type DiffChain } from './differential-cases.js';
import { DIFFERENTIAL_EXCEPTIONS } from './differential-exceptions.js';

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  // The comparison is meaningless without the other verifier: fail, do not skip.
  const { stdout } = await run('openssl', ['version']);
  expect(stdout).toMatch(/^OpenSSL 3\./);
  dir = mkdtempSync(join(tmpdir(), 'bouncer-diff-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function opensslVerdict(name: string, c: DiffChain): Promise<{ valid: boolean; output: string }> {
  const base = join(dir, name.replace(/[^a-z0-9]+/gi, '-'));
  writeFileSync(`${base}-root.pem`, c.root.pem);
  writeFileSync(`${base}-leaf.pem`, c.leaf.pem);
  const args = ['verify', '-x509_strict', '-policy_check', '-policy', '2.5.29.32.0', '-purpose', 'sslclient', '-attime', String(Math.floor(c.at / 1000)), '-CAfile', `${base}-root.pem`];
  if (c.intermediates.length > 0) {
    writeFileSync(`${base}-inter.pem`, c.intermediates.map((i) => i.pem).join(''));
    args.push('-untrusted', `${base}-inter.pem`);
  }
  args.push(`${base}-leaf.pem`);
  try {
    const { stdout, stderr } = await run('openssl', args);
    return { valid: /: OK\s*$/.test(stdout), output: `${stdout}${stderr}`.trim() };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { valid: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() };
  }
}

const disagreements = new Map<string, { bouncer: boolean; openssl: boolean }>();
const verdicts = new Map<string, boolean>();

test.each([...DIFFERENTIAL_CASES, ...MUTATED_CASES].map((c) => [c.name, c] as const))('%s', async (name, c) => {
  const chain = await c.build();
  const ours = verifyClientChain(chain.leaf.cert, chain.intermediates.map((i) => i.cert), { roots: [chain.root.cert], crls: [], staleCrl: 'deny' }, chain.at);
  const theirs = await opensslVerdict(name, chain);
  verdicts.set(name, ours.ok);
  const listed = DIFFERENTIAL_EXCEPTIONS[name];
  if (ours.ok !== theirs.valid) disagreements.set(name, { bouncer: ours.ok, openssl: theirs.valid });
  const observed = { name, bouncer: ours.ok ? 'valid' : `invalid (${ours.reason})`, openssl: theirs.valid ? 'valid' : 'invalid' };
  if (listed) {
    expect({ name, bouncer: ours.ok, openssl: theirs.valid, ...(listed.code && !ours.ok ? { code: ours.reason } : {}) }).toEqual({
      name,
      bouncer: listed.bouncer === 'valid',
      openssl: listed.bouncer !== 'valid',
      ...(listed.code && !ours.ok ? { code: listed.code } : {}),
    });
  } else {
    expect({ ...observed, detail: ours.ok ? '' : ours.detail, opensslSays: theirs.output }).toMatchObject({ name, bouncer: theirs.valid ? 'valid' : expect.stringMatching(/^invalid/), openssl: observed.openssl });
  }
});

test('the exception list names only cases of the corpus', () => {
  const names = new Set(DIFFERENTIAL_CASES.map((c) => c.name));
  for (const name of Object.keys(DIFFERENTIAL_EXCEPTIONS)) expect({ name, known: names.has(name) }).toEqual({ name, known: true });
});

test('the corpus has chains on both sides of the line', () => {
  for (const group of [DIFFERENTIAL_CASES, MUTATED_CASES]) {
    const results = group.map((c) => verdicts.get(c.name));
    expect(results.filter((v) => v === true).length).toBeGreaterThanOrEqual(group.length / 5);
    expect(results.filter((v) => v === false).length).toBeGreaterThanOrEqual(group.length / 5);
  }
});
