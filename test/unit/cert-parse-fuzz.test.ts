import 'reflect-metadata';
import { KeyUsageFlags } from '@peculiar/x509';
import { parseCertificateComplete } from '../../src/core/cert-parse-complete.js';
import { parseCertificateFast } from '../../src/core/cert-parse-fast.js';
import { parseCertificateDer, type ParsedCert } from '../../src/core/cert-parse.js';
import { verifyClientChain } from '../../src/core/cert-path.js';
import { BouncerError } from '../../src/core/errors.js';
import { createChainFixtures, makeLeaf, type ChainFixtures, type TestCert } from '../helpers/pki-fixtures.js';
import { gn, nameConstraintsExtension, sanExtension } from '../helpers/x509-extensions.js';
import { prng } from '../helpers/prng.js';

// The fast DER parser reads most certificates without @peculiar/x509 or
// OpenSSL. It may decline anything (the complete parse then decides), but what
// it accepts it must read exactly as the complete parse does. Here both read
// thousands of mutated certificates: byte flips, length and tag changes,
// insertions, deletions, truncations, repeated slices. Whenever the fast parse
// accepts, the complete parse must accept too and give every field the same
// value; neither may throw anything but ERR_CERT_PARSE; path validation of a
// mutant never throws. The generator is seeded, so a failure names a case.


type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);

let f: ChainFixtures;
const seeds: TestCert[] = [];

beforeAll(async () => {
  f = await createChainFixtures();
  seeds.push(f.leafDirect, f.leafViaInter, f.inter, f.root, f.rsaRoot, f.leafOfRsaRoot, f.leafUnknownCriticalExt);
  seeds.push(
    await makeLeaf('CN=sans, O=Acme', f.root, { extraExtensions: [sanExtension([gn.dns('a.example.com'), gn.email('a@example.com'), gn.uri('spiffe://acme/d/1')])] }),
    await makeLeaf('CN=ip', f.root, { extraExtensions: [sanExtension([gn.ip('10.1.2.3'), gn.dn('C=US, O=Acme')])] }),
    await makeLeaf('CN=usages', f.root, { keyUsage: KeyUsageFlags.digitalSignature | KeyUsageFlags.keyAgreement }),
    await makeLeaf('CN=Zoë', f.root),
  );
  seeds.push(
    await makeLeaf('CN=nc holder', f.root, {
      ca: true,
      extraExtensions: [nameConstraintsExtension({ permitted: [gn.dns('example.com'), gn.ip('10.0.0.0/255.0.0.0'), gn.email('.example.com')], excluded: [gn.dn('C=US, O=Evil')] })],
    }),
  );
});

/** Every field except the lazily built OpenSSL objects; keys compared by their DER. */
function fields(c: ParsedCert): Record<string, unknown> {
  const { node: _node, publicKey: _key, ...rest } = c;
  return { ...rest, der: c.der.toString('hex'), publicKeyDer: c.publicKey.export({ type: 'spki', format: 'der' }).toString('hex') };
}

/** One random change to `der`. */
function mutate(r: Rand, der: Buffer): Buffer {
  const b = Buffer.from(der);
  const at = int(r, b.length);
  switch (int(r, 8)) {
    case 0: // flip one bit
      b[at] = (b[at] as number) ^ (1 << int(r, 8));
      return b;
    case 1: // set a byte to a boundary value
      b[at] = [0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0xff][int(r, 7)] as number;
      return b;
    case 2: // nudge a byte (often a length) by one
      b[at] = ((b[at] as number) + (r() < 0.5 ? 1 : 255)) & 0xff;
      return b;
    case 3: // replace a tag-looking byte with another tag
      b[at] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x16, 0x17, 0x18, 0x30, 0x31, 0x80, 0x81, 0x82, 0x86, 0x87, 0xa0, 0xa3, 0xa4][int(r, 21)] as number;
      return b;
    case 4: // insert a byte
      return Buffer.concat([b.subarray(0, at), Buffer.from([int(r, 256)]), b.subarray(at)]);
    case 5: // delete a few bytes
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(r, 4)))]);
    case 6: // truncate
      return b.subarray(0, at);
    default: {
      // repeat a slice in place
      const len = 1 + int(r, 24);
      return Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]);
    }
  }
}

function isParseError(err: unknown): boolean {
  return err instanceof BouncerError && err.code === 'ERR_CERT_PARSE';
}

test.each([1, 2, 3, 4])('mutated certificates read the same by both parsers (seed %i)', (seed) => {
  const r = prng(seed);
  let fastAccepted = 0;
  for (let n = 0; n < 500; n++) {
    const seedCert = seeds[int(r, seeds.length)] as TestCert;
    let der = seedCert.cert.der;
    const rounds = 1 + int(r, 3);
    for (let k = 0; k < rounds; k++) der = mutate(r, der);
    const label = { seed, n, der: der.toString('hex') };
    let fast: ParsedCert | undefined;
    try {
      fast = parseCertificateFast(der);
    } catch (err) {
      throw new Error(`fast parse threw on ${JSON.stringify(label)}: ${String(err)}`);
    }
    let complete: ParsedCert | undefined;
    let refusal = '';
    try {
      complete = parseCertificateComplete(der);
    } catch (err) {
      if (!isParseError(err)) throw new Error(`complete parse threw ${String(err)} on ${JSON.stringify(label)}`);
      refusal = (err as Error).message;
    }
    if (fast) {
      fastAccepted += 1;
      expect({ ...label, completeAccepted: complete !== undefined, refusal }).toEqual({ ...label, completeAccepted: true, refusal: '' });
      if (complete) expect({ ...label, ...fields(fast) }).toEqual({ ...label, ...fields(complete) });
    }
    // The request path: parse, then validate; only values come back.
    let parsed: ParsedCert | undefined;
    try {
      parsed = parseCertificateDer(der);
    } catch (err) {
      if (!isParseError(err)) throw new Error(`parseCertificateDer threw ${String(err)} on ${JSON.stringify(label)}`);
    }
    if (parsed) {
      const result = verifyClientChain(parsed, [f.inter.cert], { roots: [f.root.cert], crls: [], staleCrl: 'deny' }, Date.UTC(2026, 10, 23, 12));
      expect(typeof result.ok).toBe('boolean');
    }
  }
  // The mutations must reach the interesting side: some mutants still parse fast.
  expect(fastAccepted).toBeGreaterThan(20);
});
