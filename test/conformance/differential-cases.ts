import 'reflect-metadata';
// The differential corpus: chains generated from one valid base by changing
// one thing (a name constraint, an extension, an encoding, an instant), each
// checked by bouncer and by `openssl verify -x509_strict -purpose sslclient`.
// Every chain is built here, at test time, from the fixture helpers.
import { execFileSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { KeyUsageFlags } from '@peculiar/x509';
import { children, readTlv, type Tlv } from '../../src/core/der.js';
import { DAY, EKU_SERVER_AUTH, NOW, generateKeys, makeCert, type CertSpec, type TestCert } from '../helpers/pki-fixtures.js';
import { certificatePolicies, gn, inhibitAnyPolicy, nameConstraintsExtension, policyConstraints, policyMappings, rawExtension, sanExtension, tlv } from '../helpers/x509-extensions.js';
import { prng } from '../helpers/prng.js';

/** One chain: the anchor, the intermediates presented, the leaf, and the instant it is judged at. */
export interface DiffChain {
  readonly root: TestCert;
  readonly intermediates: readonly TestCert[];
  readonly leaf: TestCert;
  readonly at: number;
}

export interface DiffCase {
  readonly name: string;
  readonly build: () => Promise<DiffChain>;
}

const ROOT = 'CN=Diff Root, O=Acme, C=US';
const INTER = 'CN=Diff Issuing CA, O=Acme, C=US';
const LEAF = 'CN=device-1, O=Acme, C=US';
const NC_CA = 'CN=Diff Constrained CA, O=Acme, C=US';
const LEAF_NOT_AFTER = NOW + 90 * DAY;
const LEAF_NOT_BEFORE = NOW - 30 * DAY;

function root(extra: Partial<CertSpec> = {}): Promise<TestCert> {
  return makeCert({ subject: ROOT, ca: true, notBefore: NOW - 365 * DAY, notAfter: NOW + 3650 * DAY, ...extra });
}

function inter(issuer: TestCert, extra: Partial<CertSpec> = {}): Promise<TestCert> {
  return makeCert({ subject: INTER, ca: true, notBefore: NOW - 180 * DAY, notAfter: NOW + 730 * DAY, issuer, ...extra });
}

function leaf(issuer: TestCert, extra: Partial<CertSpec> = {}): Promise<TestCert> {
  return makeCert({ subject: LEAF, notBefore: LEAF_NOT_BEFORE, notAfter: LEAF_NOT_AFTER, issuer, ...extra });
}

/** root → intermediate → leaf, with changes to any of the three. */
async function chain(o: { root?: Partial<CertSpec>; inter?: Partial<CertSpec>; leaf?: Partial<CertSpec>; at?: number } = {}): Promise<DiffChain> {
  const r = await root(o.root);
  const i = await inter(r, o.inter);
  const l = await leaf(i, o.leaf);
  return { root: r, intermediates: [i], leaf: l, at: o.at ?? NOW };
}

/** root → CA with these name constraints → leaf with these names. */
function constrained(nc: Parameters<typeof nameConstraintsExtension>[0], leafSpec: Partial<CertSpec>): () => Promise<DiffChain> {
  return () => chain({ inter: { subject: NC_CA, extraExtensions: [nameConstraintsExtension(nc)] }, leaf: leafSpec });
}

const san = (...names: Buffer[]): Partial<CertSpec> => ({ extraExtensions: [sanExtension(names)] });

const ekuExt = (critical: boolean): ReturnType<typeof rawExtension> =>
  // SEQUENCE { id-kp-clientAuth }
  rawExtension('2.5.29.37', critical, tlv(0x30, tlv(0x06, [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02])));

/** A fresh P-256 key's SubjectPublicKeyInfo with the curve spelled out (RFC 5480 §2.1.1 forbids it), and the key pair. */
async function explicitCurveKey(): Promise<{ spki: Buffer; keys: Awaited<ReturnType<typeof generateKeys>> }> {
  const keys = await generateKeys('p256');
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  const top = readTlv(spki, 0, spki.length) as Tlv;
  const [alg, key] = children(spki, top) as [Tlv, Tlv];
  const [oid] = children(spki, alg) as [Tlv, Tlv];
  const params = execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-param_enc', 'explicit', '-outform', 'DER']);
  const algorithm = tlv(0x30, Buffer.concat([spki.subarray(oid.start, oid.end), params]));
  return { spki: tlv(0x30, Buffer.concat([algorithm, spki.subarray(key.start, key.end)])), keys };
}

export const DIFFERENTIAL_CASES: readonly DiffCase[] = [
  { name: 'base chain', build: () => chain() },
  // dNSName
  { name: 'nc dns permitted, name inside', build: constrained({ permitted: [gn.dns('example.com')] }, san(gn.dns('a.example.com'))) },
  { name: 'nc dns permitted, name equal', build: constrained({ permitted: [gn.dns('example.com')] }, san(gn.dns('example.com'))) },
  { name: 'nc dns permitted, name outside', build: constrained({ permitted: [gn.dns('example.com')] }, san(gn.dns('a.example.net'))) },
  { name: 'nc dns permitted, suffix but not a label', build: constrained({ permitted: [gn.dns('example.com')] }, san(gn.dns('badexample.com'))) },
  { name: 'nc dns excluded, name inside', build: constrained({ excluded: [gn.dns('bad.example.com')] }, san(gn.dns('x.bad.example.com'))) },
  { name: 'nc dns excluded, name outside', build: constrained({ excluded: [gn.dns('bad.example.com')] }, san(gn.dns('good.example.com'))) },
  { name: 'nc dns permitted, case differs', build: constrained({ permitted: [gn.dns('Example.COM')] }, san(gn.dns('a.example.com'))) },
  { name: 'nc dns constraint with leading period', build: constrained({ permitted: [gn.dns('.example.com')] }, san(gn.dns('a.example.com'))) },
  { name: 'nc dns constraint with wildcard', build: constrained({ permitted: [gn.dns('*.example.com')] }, san(gn.dns('a.example.com'))) },
  { name: 'nc dns permitted, leaf has no dns name', build: constrained({ permitted: [gn.dns('example.com')] }, san(gn.email('a@example.com'))) },
  // iPAddress
  { name: 'nc ip permitted, address inside', build: constrained({ permitted: [gn.ip('10.0.0.0/255.0.0.0')] }, san(gn.ip('10.1.2.3'))) },
  { name: 'nc ip permitted, address outside', build: constrained({ permitted: [gn.ip('10.0.0.0/255.0.0.0')] }, san(gn.ip('192.168.1.1'))) },
  { name: 'nc ip excluded, address inside', build: constrained({ excluded: [gn.ip('192.168.0.0/255.255.0.0')] }, san(gn.ip('192.168.7.7'))) },
  { name: 'nc ip v6 permitted, v6 inside', build: constrained({ permitted: [gn.ip('2001:db8::/ffff:ffff::')] }, san(gn.ip([0x20, 0x01, 0x0d, 0xb8, ...Array<number>(11).fill(0), 1]))) },
  { name: 'nc ip v4 permitted, v6 address', build: constrained({ permitted: [gn.ip('10.0.0.0/255.0.0.0')] }, san(gn.ip([0x20, 0x01, 0x0d, 0xb8, ...Array<number>(11).fill(0), 1]))) },
  { name: 'nc ip constraint of 7 octets', build: constrained({ permitted: [gn.ip([10, 0, 0, 0, 255, 0, 0])] }, san(gn.ip('10.1.2.3'))) },
  { name: 'nc ip constraint with a non-prefix mask', build: constrained({ permitted: [gn.ip('10.0.0.0/255.0.255.0')] }, san(gn.ip('10.1.2.3'))) },
  // directoryName
  // Names are encoded in the order written: C first, so a C, O constraint is a prefix.
  { name: 'nc dn permitted, subject inside', build: constrained({ permitted: [gn.dn('C=US, O=Acme')] }, { subject: 'C=US, O=Acme, CN=device-1' }) },
  { name: 'nc dn permitted, subject outside', build: constrained({ permitted: [gn.dn('C=US, O=Other')] }, { subject: 'C=US, O=Acme, CN=device-1' }) },
  { name: 'nc dn permitted, RDNs in another order', build: constrained({ permitted: [gn.dn('C=US, O=Acme')] }, { subject: 'CN=device-1, O=Acme, C=US' }) },
  { name: 'nc dn permitted, value in other case', build: constrained({ permitted: [gn.dn('C=US, O=ACME')] }, { subject: 'C=US, O=acme, CN=device-1' }) },
  { name: 'nc dn excluded, subject inside', build: constrained({ excluded: [gn.dn('C=US, O=Acme')] }, { subject: 'C=US, O=Acme, CN=device-1' }) },
  {
    name: 'nc dn permitted, SAN directoryName outside',
    build: constrained({ permitted: [gn.dn('C=US, O=Acme')] }, { subject: 'C=US, O=Acme, CN=device-1', ...san(gn.dn('C=US, O=Evil, CN=x')) }),
  },
  // rfc822Name
  { name: 'nc email host permitted, mailbox inside', build: constrained({ permitted: [gn.email('example.com')] }, san(gn.email('ann@example.com'))) },
  { name: 'nc email host permitted, subdomain mailbox', build: constrained({ permitted: [gn.email('example.com')] }, san(gn.email('ann@mail.example.com'))) },
  { name: 'nc email domain permitted, subdomain mailbox', build: constrained({ permitted: [gn.email('.example.com')] }, san(gn.email('ann@mail.example.com'))) },
  { name: 'nc email mailbox permitted, other mailbox', build: constrained({ permitted: [gn.email('ann@example.com')] }, san(gn.email('bob@example.com'))) },
  { name: 'nc email excluded, mailbox inside', build: constrained({ excluded: [gn.email('evil.com')] }, san(gn.email('x@evil.com'))) },
  { name: 'nc email permitted, subject emailAddress outside', build: constrained({ permitted: [gn.email('example.com')] }, { subject: `${LEAF}, E=x@evil.com` }) },
  { name: 'nc email constraint "@example.com"', build: constrained({ permitted: [gn.email('@example.com')] }, san(gn.email('ann@example.com'))) },
  // URI
  { name: 'nc uri domain permitted, host inside', build: constrained({ permitted: [gn.uri('.example.com')] }, san(gn.uri('https://a.example.com/x'))) },
  { name: 'nc uri host permitted, host outside', build: constrained({ permitted: [gn.uri('example.com')] }, san(gn.uri('https://evil.com/'))) },
  { name: 'nc uri permitted, URI without host', build: constrained({ permitted: [gn.uri('example.com')] }, san(gn.uri('urn:example:device:1'))) },
  { name: 'nc uri excluded, host inside', build: constrained({ excluded: [gn.uri('evil.com')] }, san(gn.uri('spiffe://evil.com/device'))) },
  // where constraints sit
  {
    name: 'nc on the trust anchor, name outside',
    build: async () => {
      const r = await root({ extraExtensions: [nameConstraintsExtension({ permitted: [gn.dns('example.com')] })] });
      const i = await inter(r);
      return { root: r, intermediates: [i], leaf: await leaf(i, san(gn.dns('evil.com'))), at: NOW };
    },
  },
  {
    name: 'nc on the trust anchor, name inside',
    build: async () => {
      const r = await root({ extraExtensions: [nameConstraintsExtension({ permitted: [gn.dns('example.com')] })] });
      const i = await inter(r);
      return { root: r, intermediates: [i], leaf: await leaf(i, san(gn.dns('a.example.com'))), at: NOW };
    },
  },
  { name: 'nc in an end-entity certificate', build: () => chain({ leaf: { extraExtensions: [nameConstraintsExtension({ permitted: [gn.dns('example.com')] })] } }) },
  { name: 'nc subtree with a maximum', build: constrained({ permitted: [gn.dns('example.com')], subtreeExtra: tlv(0x81, [1]) }, san(gn.dns('a.example.com'))) },
  {
    name: 'nc with 600 subtrees and 10 names',
    build: constrained(
      { excluded: Array.from({ length: 600 }, (_, k) => gn.dns(`x${k}.example.org`)) },
      san(...Array.from({ length: 10 }, (_, k) => gn.dns(`d${k}.example.com`))),
    ),
  },
  // critical extensions and the profile
  { name: 'unknown critical extension on the root', build: () => chain({ root: { extraExtensions: [rawExtension('1.3.6.1.4.1.55555.9', true, Buffer.from([5, 0]))] } }) },
  { name: 'unknown critical extension on the leaf', build: () => chain({ leaf: { extraExtensions: [rawExtension('1.3.6.1.4.1.55555.9', true, Buffer.from([5, 0]))] } }) },
  { name: 'critical subjectKeyIdentifier on the root', build: () => chain({ root: { keyIds: false, extraExtensions: [rawExtension('2.5.29.14', true, tlv(0x04, Buffer.alloc(20, 7)))] } }) },
  { name: 'critical authorityKeyIdentifier on the leaf', build: () => chain({ leaf: { keyIds: false, extraExtensions: [rawExtension('2.5.29.35', true, tlv(0x30, tlv(0x80, Buffer.alloc(20, 7))))] } }) },
  { name: 'leaf without authorityKeyIdentifier', build: () => chain({ leaf: { keyIds: false } }) },
  { name: 'intermediate without subjectKeyIdentifier', build: () => chain({ inter: { keyIds: false } }) },
  { name: 'intermediate with an empty subject', build: () => chain({ inter: { subject: '' }, leaf: { issuerName: '' } }) },
  {
    name: 'intermediate basicConstraints not critical',
    build: () =>
      chain({ inter: { ca: undefined, keyUsage: KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, extraExtensions: [rawExtension('2.5.29.19', false, tlv(0x30, tlv(0x01, [0xff])))] } }),
  },
  { name: 'intermediate without keyUsage', build: () => chain({ inter: { keyUsage: null } }) },
  { name: 'leaf asserting keyCertSign', build: () => chain({ leaf: { keyUsage: KeyUsageFlags.digitalSignature | KeyUsageFlags.keyCertSign } }) },
  { name: 'leaf with an empty subject and a non-critical SAN', build: () => chain({ leaf: { subject: '', extraExtensions: [sanExtension([gn.dns('a.example.com')], false)] } }) },
  { name: 'leaf with an empty subject and a critical SAN', build: () => chain({ leaf: { subject: '', extraExtensions: [sanExtension([gn.dns('a.example.com')], true)] } }) },
  { name: 'leaf with an empty SAN', build: () => chain({ leaf: { extraExtensions: [rawExtension('2.5.29.17', false, tlv(0x30, []))] } }) },
  { name: 'leaf with the extendedKeyUsage extension twice', build: () => chain({ leaf: { eku: null, extraExtensions: [ekuExt(false), ekuExt(false)] } }) },
  // purposes
  { name: 'leaf without extendedKeyUsage', build: () => chain({ leaf: { eku: null } }) },
  { name: 'leaf for serverAuth only', build: () => chain({ leaf: { eku: [EKU_SERVER_AUTH] } }) },
  { name: 'intermediate restricted to serverAuth', build: () => chain({ inter: { eku: [EKU_SERVER_AUTH] } }) },
  { name: 'leaf that is a CA', build: () => chain({ leaf: { ca: true } }) },
  {
    name: 'pathLen 0 CA above another CA',
    build: async () => {
      const r = await root();
      const i = await inter(r, { pathLen: 0 });
      const sub = await makeCert({ subject: 'CN=Diff Sub CA, O=Acme, C=US', ca: true, issuer: i, notBefore: NOW - 100 * DAY, notAfter: NOW + 700 * DAY });
      return { root: r, intermediates: [i, sub], leaf: await leaf(sub), at: NOW };
    },
  },
  // names compared as RFC 5280 §7.1 says
  { name: 'issuer name in other case and spacing than the CA subject', build: () => chain({ leaf: { issuerName: 'CN=diff  ISSUING ca, O=ACME, C=US' } }) },
  { name: 'issuer name with RDNs in another order', build: () => chain({ leaf: { issuerName: 'C=US, O=Acme, CN=Diff Issuing CA' } }) },
  // algorithms
  { name: 'leaf signed with SHA-1', build: () => chain({ leaf: { hash: 'SHA-1' } }) },
  {
    name: 'leaf signed with RSASSA-PSS',
    build: async () => {
      const r = await root();
      const i = await inter(r, { keyKind: 'rsa2048' });
      return { root: r, intermediates: [i], leaf: await leaf(i, { pss: true }), at: NOW };
    },
  },
  {
    name: 'leaf key with explicit EC curve parameters',
    build: async () => {
      const { spki, keys } = await explicitCurveKey();
      return chain({ leaf: { spki, keys } });
    },
  },
  // validity edges
  { name: 'at the leaf notAfter exactly', build: () => chain({ at: LEAF_NOT_AFTER }) },
  { name: 'one second after the leaf notAfter', build: () => chain({ at: LEAF_NOT_AFTER + 1000 }) },
  { name: 'at the leaf notBefore exactly', build: () => chain({ at: LEAF_NOT_BEFORE }) },
  { name: 'one second before the leaf notBefore', build: () => chain({ at: LEAF_NOT_BEFORE - 1000 }) },
  { name: 'intermediate expired', build: () => chain({ inter: { notAfter: NOW - DAY } }) },
  // certificate policies (OpenSSL processes them too: requireExplicitPolicy in a CA makes the policy tree decide)
  { name: 'policy: explicit policy required by the CA, leaf under the same policy', build: () => chain({ inter: { extraExtensions: [certificatePolicies([P1]), policyConstraints({ requireExplicit: 0 })] }, leaf: { extraExtensions: [certificatePolicies([P1])] } }) },
  { name: 'policy: explicit policy required by the CA, leaf under another policy', build: () => chain({ inter: { extraExtensions: [certificatePolicies([P1]), policyConstraints({ requireExplicit: 0 })] }, leaf: { extraExtensions: [certificatePolicies([P2])] } }) },
  { name: 'policy: explicit policy required by the CA, leaf without policies', build: () => chain({ inter: { extraExtensions: [certificatePolicies([P1]), policyConstraints({ requireExplicit: 0 })] } }) },
  { name: 'policy: explicit policy required after one more certificate, leaf without policies', build: () => chain({ inter: { extraExtensions: [certificatePolicies([P1]), policyConstraints({ requireExplicit: 1 })] } }) },
  { name: 'policy: CA maps P1 to P2 under explicit policy, leaf under P2', build: () => chain({ inter: { extraExtensions: [certificatePolicies([P1]), policyMappings([[P1, P2]]), policyConstraints({ requireExplicit: 0 })] }, leaf: { extraExtensions: [certificatePolicies([P2])] } }) },
  { name: 'policy: CA maps anyPolicy', build: () => chain({ inter: { extraExtensions: [certificatePolicies([P1]), policyMappings([['2.5.29.32.0', P2]])] } }) },
  { name: 'policy: CA with anyPolicy and inhibitAnyPolicy 0 under explicit policy, leaf anyPolicy', build: () => chain({ inter: { extraExtensions: [certificatePolicies(['2.5.29.32.0']), inhibitAnyPolicy(0), policyConstraints({ requireExplicit: 0 })] }, leaf: { extraExtensions: [certificatePolicies(['2.5.29.32.0'])] } }) },
  { name: 'policy: CA with anyPolicy under explicit policy, leaf under P1', build: () => chain({ inter: { extraExtensions: [certificatePolicies(['2.5.29.32.0']), policyConstraints({ requireExplicit: 0 })] }, leaf: { extraExtensions: [certificatePolicies([P1])] } }) },
  { name: 'policy: policies without any constraint, leaf under another policy', build: () => chain({ inter: { extraExtensions: [certificatePolicies([P1])] }, leaf: { extraExtensions: [certificatePolicies([P2])] } }) },
  { name: 'policy: root requires explicit policy, chain without policies', build: () => chain({ root: { extraExtensions: [policyConstraints({ requireExplicit: 0 })] } }) },
];

const P1 = '1.3.6.1.4.1.55555.7.1';
const P2 = '1.3.6.1.4.1.55555.7.2';


const DNS_POOL = ['example.com', 'a.example.com', 'b.a.example.com', 'example.net', 'xample.com', 'EXAMPLE.com'];
const IP_POOL: readonly (readonly number[])[] = [
  [10, 0, 0, 0, 255, 0, 0, 0],
  [10, 1, 0, 0, 255, 255, 0, 0],
  [192, 168, 0, 0, 255, 255, 0, 0],
];
const IP_NAMES: readonly (readonly number[])[] = [
  [10, 1, 2, 3],
  [10, 2, 0, 1],
  [192, 168, 9, 9],
];
const EMAIL_BASES = ['example.com', '.example.com', 'ann@example.com'];
const EMAIL_NAMES = ['ann@example.com', 'bob@example.com', 'ann@mail.example.com', 'ann@example.net'];
const URI_BASES = ['example.com', '.example.com'];
const URI_NAMES = ['https://example.com/x', 'https://a.example.com/', 'spiffe://b.example.com/d', 'https://example.net/'];

/**
 * Mutations of the constrained chain: a random mix of permitted and excluded
 * subtrees of every form and a random set of leaf names, from small pools
 * chosen so that the answers fall on both sides of each boundary.
 */
function mutatedNameConstraintCases(count: number, seed: number): DiffCase[] {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const out: DiffCase[] = [];
  for (let k = 0; k < count; k++) {
    const permitted: Buffer[] = [];
    const excluded: Buffer[] = [];
    const names: Buffer[] = [];
    const forms = ['dns', 'ip', 'email', 'uri'].filter(() => rand() < 0.6);
    if (forms.length === 0) forms.push('dns');
    for (const form of forms) {
      const into = rand() < 0.7 ? permitted : excluded;
      if (form === 'dns') {
        into.push(gn.dns(pick(DNS_POOL).toLowerCase()));
        names.push(gn.dns(pick(DNS_POOL)));
      } else if (form === 'ip') {
        into.push(gn.ip(pick(IP_POOL)));
        names.push(gn.ip(pick(IP_NAMES)));
      } else if (form === 'email') {
        into.push(gn.email(pick(EMAIL_BASES)));
        names.push(gn.email(pick(EMAIL_NAMES)));
      } else {
        into.push(gn.uri(pick(URI_BASES)));
        names.push(gn.uri(pick(URI_NAMES)));
      }
    }
    const nc = { ...(permitted.length ? { permitted } : {}), ...(excluded.length ? { excluded } : {}) };
    out.push({ name: `mutated name constraints #${k + 1} (seed ${seed})`, build: constrained(nc, san(...names)) });
  }
  return out;
}

export const MUTATED_CASES: readonly DiffCase[] = mutatedNameConstraintCases(40, 5280);
