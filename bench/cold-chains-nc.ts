/**
 * Cold chain validation with name constraints present, on one core: the
 * "Chains" measurement of cold-chains.ts for an RSA-2048 path whose issuing
 * CA carries nameConstraints (dNSName, rfc822Name, directoryName, iPAddress
 * subtrees) and whose leaves carry names of each form. Run directly:
 *
 *   npx tsc -p tsconfig.json && node dist/bench/cold-chains-nc.js [critical|noncritical] [seconds]
 *
 * `noncritical` marks the constraints non-critical, so that a verifier which
 * does not evaluate them (bouncer before name-constraint support refused a
 * critical one) can be measured on the same chains.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsageExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
  cryptoProvider,
} from '@peculiar/x509';
import { parseCertificateBundle } from '../src/core/cert-parse.js';
import { verifyClientChain } from '../src/core/cert-path.js';
import { createCertVerifier } from '../src/core/cert-verifier.js';
import type { Tenant } from '../src/core/tenant.js';

cryptoProvider.set(webcrypto);

const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) };
const DAY = 86_400_000;

function tlv(tag: number, body: Buffer): Buffer {
  const n = body.length;
  const head = n < 0x80 ? [tag, n] : n < 0x100 ? [tag, 0x81, n] : [tag, 0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from(head), body]);
}

function nameConstraints(critical: boolean): Extension {
  const subtree = (gn: Buffer): Buffer => tlv(0x30, gn);
  const permitted = [
    tlv(0x82, Buffer.from('devices.example.com')),
    tlv(0x81, Buffer.from('.example.com')),
    tlv(0xa4, Buffer.from(new Name('C=US, O=Acme').toArrayBuffer())),
    tlv(0x87, Buffer.from([10, 0, 0, 0, 255, 0, 0, 0])),
  ];
  const excluded = [tlv(0x82, Buffer.from('bad.devices.example.com'))];
  const value = tlv(0x30, Buffer.concat([tlv(0xa0, Buffer.concat(permitted.map(subtree))), tlv(0xa1, Buffer.concat(excluded.map(subtree)))]));
  return new Extension('2.5.29.30', critical, value);
}

function san(i: number): Extension {
  const names = [tlv(0x82, Buffer.from(`d${i}.devices.example.com`)), tlv(0x81, Buffer.from(`d${i}@mail.example.com`))];
  // BENCH_NO_IP=1 leaves out the iPAddress name (which bouncer's fast parser read only from this change on).
  if (process.env.BENCH_NO_IP !== '1') names.push(tlv(0x87, Buffer.from([10, 0, i >> 8, i & 0xff])));
  return new Extension('2.5.29.17', false, tlv(0x30, Buffer.concat(names)));
}

type Keys = webcrypto.CryptoKeyPair;

async function issue(subject: string, issuer: string, keys: Keys, signer: Keys, now: number, extensions: Extension[], serial: string): Promise<string> {
  const cert = await X509CertificateGenerator.create({
    serialNumber: serial,
    subject,
    issuer,
    notBefore: new Date(now - 30 * DAY),
    notAfter: new Date(now + 365 * DAY),
    publicKey: keys.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm: RSA,
    extensions,
  });
  return cert.toString('pem');
}

export async function makeChains(count: number, critical: boolean, now: number): Promise<{ rootPem: string; intermediatePem: string; leaves: string[] }> {
  const gen = (): Promise<Keys> => webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify']) as Promise<Keys>;
  const [rootKeys, interKeys, leafKeys] = [await gen(), await gen(), await gen()];
  const caExt = async (keys: Keys, issuerKeys: Keys | undefined): Promise<Extension[]> => [
    new BasicConstraintsExtension(true, undefined, true),
    new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
    await SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
    ...(issuerKeys ? [await AuthorityKeyIdentifierExtension.create(issuerKeys.publicKey, false, webcrypto)] : []),
  ];
  const rootName = 'C=US, O=Acme, CN=Bench Root';
  const interName = 'C=US, O=Acme, CN=Bench Devices CA';
  const rootPem = await issue(rootName, rootName, rootKeys, rootKeys, now, await caExt(rootKeys, undefined), '01');
  const intermediatePem = await issue(interName, rootName, interKeys, rootKeys, now, [...(await caExt(interKeys, rootKeys)), nameConstraints(critical)], '02');
  const aki = await AuthorityKeyIdentifierExtension.create(interKeys.publicKey, false, webcrypto);
  const leaves: string[] = [];
  for (let i = 0; i < count; i++) {
    const ext = [new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true), new ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.2']), aki, san(i)];
    leaves.push(await issue(`C=US, O=Acme, CN=device-${i}`, interName, leafKeys, interKeys, now, ext, (0x1000 + i).toString(16)));
  }
  return { rootPem, intermediatePem, leaves };
}

function measure(set: Awaited<ReturnType<typeof makeChains>>, mode: 'miss' | 'verify', ms: number, now: number): number {
  const roots = parseCertificateBundle(set.rootPem);
  const tenant: Tenant = { name: 'acme', hostnames: ['wiki.bench.test'], mtls: { mode: 'require', trust: { roots, crls: [], staleCrl: 'deny' }, exemptPaths: [] } };
  const verifier = createCertVerifier({ maxEntries: 1, ttlMs: 300_000 });
  const parsed = set.leaves.map((l) => parseCertificateBundle(l)[0]!);
  const intermediates = parseCertificateBundle(set.intermediatePem);
  let n = 0;
  const start = performance.now();
  const end = start + ms;
  // Rates per CPU-second of this thread: on a shared machine wall time also counts waiting.
  const cpu0 = process.cpuUsage();
  while (performance.now() < end) {
    for (let k = 0; k < 16; k++, n++) {
      const i = n % set.leaves.length;
      const r =
        mode === 'miss'
          ? verifier.verify(tenant, { leafPem: set.leaves[i]!, chainPem: set.intermediatePem }, now)
          : verifyClientChain(parsed[i]!, intermediates, tenant.mtls.trust!, now);
      if (!r.ok) throw new Error(`chain ${i} did not verify: ${r.reason} ${r.detail}`);
    }
  }
  const cpu = process.cpuUsage(cpu0);
  return n / ((cpu.user + cpu.system) / 1e6);
}

if (process.argv[2] === 'parse') {
  const { isFastParsed, parseCertificateDer } = await import('../src/core/cert-parse.js');
  const s = await makeChains(64, true, Date.UTC(2026, 10, 23, 12));
  const ders = s.leaves.map((l) => Buffer.from(l.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
  console.log('fast', isFastParsed(parseCertificateDer(ders[0]!)));
  const cpu0 = process.cpuUsage();
  let n = 0;
  for (let k = 0; k < Number(process.env.BENCH_N ?? 20000); k++, n++) parseCertificateDer(ders[k % ders.length]!);
  const cpu = process.cpuUsage(cpu0);
  console.log('parse µs', ((cpu.user + cpu.system) / n).toFixed(1));
  process.exit(0);
}
const critical = process.argv[2] !== 'noncritical';
const seconds = Number(process.argv[3] ?? 5);
const now = Date.UTC(2026, 10, 23, 12);
const set = await makeChains(256, critical, now);
measure(set, 'miss', 1000, now);
const miss = measure(set, 'miss', seconds * 1000, now);
const verify = measure(set, 'verify', seconds * 1000, now);
console.log(JSON.stringify({ nameConstraints: critical ? 'critical' : 'non-critical', missPerSec: Math.round(miss), verifyPerSec: Math.round(verify) }));
