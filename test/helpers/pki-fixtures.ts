// Certificate and CRL fixtures for path-validation tests, generated in-process
// with @peculiar/x509 on every run (no committed binaries). They are built
// directly rather than through src/pki/generate.ts so tests can make
// certificates that our own issuing code would refuse to produce: SHA-1
// signatures, 1024-bit RSA, CA leaves, look-alike roots, broken CRLs.
//
// Every date is relative to the fixed clock NOW; keys are ECDSA P-256 except
// where a case needs RSA, because RSA key generation is slow.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
  X509CrlGenerator,
  cryptoProvider,
} from '@peculiar/x509';
import { EKU_ANY, EKU_CLIENT_AUTH, parseCertificateDer, type ParsedCert } from '../../src/core/cert-parse.js';
import { parseCrlBundle, type ParsedCrl } from '../../src/core/crl.js';

cryptoProvider.set(webcrypto);

/** The fixed "current time" of every certificate test: 2026-11-23T12:00:00Z. */
export const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
export const DAY = 86_400_000;

export type KeyKind = 'p256' | 'rsa2048' | 'rsa1024';
type KeyPair = webcrypto.CryptoKeyPair;
type SigningAlgorithm = webcrypto.Algorithm | webcrypto.EcdsaParams;

/** A generated certificate, its parsed form and the key pair behind it. */
export interface TestCert {
  readonly cert: ParsedCert;
  readonly keys: KeyPair;
  readonly pem: string;
}

export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CA_KEY_USAGE = KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign;
const LEAF_KEY_USAGE = KeyUsageFlags.digitalSignature;

/** Generates a key pair. RSA keys are bound to SHA-256; see {@link rsaSigner} for SHA-1. */
export async function generateKeys(kind: KeyKind = 'p256'): Promise<KeyPair> {
  if (kind === 'p256') {
    return (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as KeyPair;
  }
  const params: webcrypto.RsaHashedKeyGenParams = {
    name: 'RSASSA-PKCS1-v1_5',
    hash: 'SHA-256',
    modulusLength: kind === 'rsa2048' ? 2048 : 1024,
    publicExponent: new Uint8Array([1, 0, 1]),
  };
  return (await webcrypto.subtle.generateKey(params, true, ['sign', 'verify'])) as KeyPair;
}

/**
 * WebCrypto binds an RSA key to one hash when it is created, so signing with
 * SHA-1 needs the same private key re-imported under SHA-1.
 */
async function rsaSigner(privateKey: webcrypto.CryptoKey, hash: 'SHA-1' | 'SHA-256'): Promise<webcrypto.CryptoKey> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', privateKey);
  return webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash }, false, ['sign']);
}

async function signerFor(keys: KeyPair, hash: 'SHA-1' | 'SHA-256'): Promise<{ key: webcrypto.CryptoKey; algorithm: SigningAlgorithm }> {
  if (keys.privateKey.algorithm.name === 'ECDSA') {
    return { key: keys.privateKey, algorithm: { name: 'ECDSA', hash } as webcrypto.EcdsaParams };
  }
  return { key: hash === 'SHA-256' ? keys.privateKey : await rsaSigner(keys.privateKey, hash), algorithm: { name: 'RSASSA-PKCS1-v1_5' } };
}

/** The same RSA private key, re-imported for RSASSA-PSS with SHA-256 and a 32-byte salt. */
async function pssSigner(keys: KeyPair): Promise<{ key: webcrypto.CryptoKey; algorithm: SigningAlgorithm }> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSA-PSS', hash: 'SHA-256' }, false, ['sign']);
  return { key, algorithm: { name: 'RSA-PSS', saltLength: 32 } as webcrypto.Algorithm };
}

export interface CertSpec {
  readonly subject: string;
  /** Issuing certificate; omitted for a self-signed certificate. */
  readonly issuer?: TestCert;
  /** Signs with this key instead of the issuer's (the issuer name is still the issuer's subject). */
  readonly signingKeys?: KeyPair;
  /** Reuse a key pair (e.g. a re-issued CA); otherwise a new one of `keyKind` is made. */
  readonly keys?: KeyPair;
  readonly keyKind?: KeyKind;
  /** basicConstraints cA; the extension is omitted when undefined. */
  readonly ca?: boolean;
  readonly pathLen?: number;
  /** KeyUsageFlags bit set, or null to omit the extension. Defaults by role. */
  readonly keyUsage?: number | null;
  /** EKU OIDs, or null to omit the extension. Defaults to clientAuth for leaves, none for CAs. */
  readonly eku?: readonly string[] | null;
  readonly notBefore?: number;
  readonly notAfter?: number;
  /** Hex serial; defaults to a counter so fixtures are easy to read. */
  readonly serial?: string;
  readonly hash?: 'SHA-1' | 'SHA-256';
  readonly extraExtensions?: readonly Extension[];
  /**
   * Key identifiers as RFC 5280 §4.2.1.1-2 require them: subjectKeyIdentifier
   * on CAs, authorityKeyIdentifier on every certificate an issuer signed.
   * Default true; false omits both (to test their absence).
   */
  readonly keyIds?: boolean;
  /** The issuer field as written, instead of the issuer's subject (e.g. the same name in another case or encoding). */
  readonly issuerName?: string;
  /** Sign with RSASSA-PSS (SHA-256, 32-byte salt); the signing key must be RSA. */
  readonly pss?: boolean;
  /** SubjectPublicKeyInfo DER to write instead of the generated key's (e.g. explicit EC parameters). */
  readonly spki?: Buffer;
}

let serialCounter = 0x1000;

/** Issues one certificate exactly as specified, however wrong that is. */
export async function makeCert(spec: CertSpec): Promise<TestCert> {
  const keys = spec.keys ?? (await generateKeys(spec.keyKind));
  const isCa = spec.ca === true;
  const extensions: Extension[] = [];
  if (spec.ca !== undefined) extensions.push(new BasicConstraintsExtension(spec.ca, spec.pathLen, true));
  const keyUsage = spec.keyUsage === undefined ? (isCa ? CA_KEY_USAGE : LEAF_KEY_USAGE) : spec.keyUsage;
  if (keyUsage !== null) extensions.push(new KeyUsagesExtension(keyUsage, true));
  const eku = spec.eku === undefined ? (isCa ? null : [EKU_CLIENT_AUTH]) : spec.eku;
  if (eku !== null) extensions.push(new ExtendedKeyUsageExtension([...eku], false));
  if (spec.keyIds !== false) {
    if (isCa) extensions.push(await SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto));
    const authority = spec.signingKeys ?? spec.issuer?.keys;
    if (authority) extensions.push(await AuthorityKeyIdentifierExtension.create(authority.publicKey, false, webcrypto));
  }
  extensions.push(...(spec.extraExtensions ?? []));
  const signingKeys = spec.signingKeys ?? spec.issuer?.keys ?? keys;
  const signing = spec.pss === true ? await pssSigner(signingKeys) : await signerFor(signingKeys, spec.hash ?? 'SHA-256');
  serialCounter += 1;
  const generated = await X509CertificateGenerator.create({
    serialNumber: spec.serial ?? serialCounter.toString(16),
    subject: spec.subject,
    issuer: spec.issuerName ?? spec.issuer?.cert.subject ?? spec.subject,
    notBefore: new Date(spec.notBefore ?? NOW - 30 * DAY),
    notAfter: new Date(spec.notAfter ?? NOW + 365 * DAY),
    publicKey: spec.spki ?? keys.publicKey,
    signingKey: signing.key,
    signingAlgorithm: signing.algorithm,
    extensions,
  });
  const cert = parseCertificateDer(Buffer.from(generated.rawData));
  return { cert, keys, pem: cert.pem };
}

/** A self-signed CA with keyCertSign and cRLSign. */
export function makeRoot(subject: string, extra: Partial<CertSpec> = {}): Promise<TestCert> {
  return makeCert({ notBefore: NOW - 365 * DAY, notAfter: NOW + 3650 * DAY, ...extra, subject, ca: true });
}

/** A CA issued by `issuer`. */
export function makeIntermediate(subject: string, issuer: TestCert, extra: Partial<CertSpec> = {}): Promise<TestCert> {
  return makeCert({ notBefore: NOW - 180 * DAY, notAfter: NOW + 730 * DAY, ca: true, ...extra, subject, issuer });
}

/** A client certificate (clientAuth, digitalSignature, no basicConstraints) issued by `issuer`. */
export function makeLeaf(subject: string, issuer: TestCert, extra: Partial<CertSpec> = {}): Promise<TestCert> {
  return makeCert({ notBefore: NOW - 30 * DAY, notAfter: NOW + 90 * DAY, ...extra, subject, issuer });
}

export interface CrlSpec {
  readonly issuer: TestCert;
  readonly revoked?: readonly ParsedCert[];
  readonly thisUpdate?: number;
  /** ms, or null to omit nextUpdate. */
  readonly nextUpdate?: number | null;
  /** Signs with another key (a forged or misconfigured CRL). */
  readonly signingKeys?: KeyPair;
  readonly hash?: 'SHA-1' | 'SHA-256';
  readonly extensions?: readonly Extension[];
  /** cRLNumber (RFC 5280 §5.2.3); null omits it. Default 1. */
  readonly crlNumber?: number | null;
}

export interface TestCrl {
  readonly pem: string;
  readonly crl: ParsedCrl;
}

/** Wraps DER in a PEM block with the RFC 7468 label. */
export function toPem(der: ArrayBuffer | Buffer, label: string): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  return `-----BEGIN ${label}-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`;
}

/** A non-critical cRLNumber extension (RFC 5280 §5.2.3) holding a small number. */
export function crlNumberExtension(n: number, critical = false): Extension {
  const hex = n.toString(16).padStart(2, '0');
  const body = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  const content = body[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body;
  return new Extension('2.5.29.20', critical, Buffer.concat([Buffer.from([0x02, content.length]), content]));
}

/** Issues a CRL as specified and parses it with our own parser. */
export async function makeCrl(spec: CrlSpec): Promise<TestCrl> {
  const signing = await signerFor(spec.signingKeys ?? spec.issuer.keys, spec.hash ?? 'SHA-256');
  const thisUpdate = spec.thisUpdate ?? NOW - DAY;
  const nextUpdate = spec.nextUpdate === undefined ? NOW + 7 * DAY : spec.nextUpdate;
  const generated = await X509CrlGenerator.create({
    issuer: spec.issuer.cert.subject,
    thisUpdate: new Date(thisUpdate),
    ...(nextUpdate === null ? {} : { nextUpdate: new Date(nextUpdate) }),
    entries: (spec.revoked ?? []).map((c) => ({ serialNumber: c.serial, revocationDate: new Date(thisUpdate - DAY) })),
    extensions: [...(spec.crlNumber === null ? [] : [crlNumberExtension(spec.crlNumber ?? 1)]), ...(spec.extensions ?? [])],
    signingKey: signing.key,
    signingAlgorithm: signing.algorithm,
  });
  const pem = toPem(generated.rawData, 'X509 CRL');
  const [crl] = parseCrlBundle(pem);
  if (!crl) throw new Error('fixture CRL did not parse');
  return { pem, crl };
}

/**
 * The named certificates and CRLs the path tests use. Names say what is wrong
 * with each; unless stated, a certificate is valid at NOW and signed SHA-256.
 */
export interface ChainFixtures {
  root: TestCert;
  /** Intermediate with pathLenConstraint 0, issued by root. */
  inter: TestCert;
  leafDirect: TestCert;
  leafViaInter: TestCert;
  otherRoot: TestCert;
  leafOfOtherRoot: TestCert;
  /** Same subject as root, different key. */
  lookAlikeRoot: TestCert;
  leafOfLookAlike: TestCert;
  leafExpired: TestCert;
  leafNotYetValid: TestCert;
  interExpired: TestCert;
  leafUnderExpiredInter: TestCert;
  rootExpired: TestCert;
  leafUnderExpiredRoot: TestCert;
  leafNoEku: TestCert;
  leafServerAuthOnly: TestCert;
  leafAnyEkuOnly: TestCert;
  leafIsCa: TestCert;
  leafKeyEnciphermentOnly: TestCert;
  leafUnknownCriticalExt: TestCert;
  interNotCa: TestCert;
  leafUnderNotCa: TestCert;
  interNoCertSign: TestCert;
  leafUnderNoCertSign: TestCert;
  /** Issued by `inter` (pathLen 0), so a leaf below it breaks the constraint. */
  subInter: TestCert;
  leafUnderSubInter: TestCert;
  interServerEku: TestCert;
  leafUnderServerEkuInter: TestCert;
  /** ecdsa-with-SHA1 signature by root. */
  leafSha1: TestCert;
  rsaRoot: TestCert;
  leafOfRsaRoot: TestCert;
  /** sha1WithRSAEncryption signature by rsaRoot. */
  interSha1: TestCert;
  leafUnderSha1Inter: TestCert;
  leafRsa1024: TestCert;
  leafRevoked: TestCert;
  interRevoked: TestCert;
  leafUnderRevokedInter: TestCert;
  /** keyCertSign only: may not sign CRLs. */
  interNoCrlSign: TestCert;
  leafUnderNoCrlSign: TestCert;
  /** Two certificates with one name and key; the first expired, the second re-issued. */
  rolloverOld: TestCert;
  rolloverNew: TestCert;
  leafOfRollover: TestCert;
  /** Same name as `inter` but another key: a decoy among the presented certs. */
  interDecoy: TestCert;
  /** root -> deep[0] -> ... -> deep[7]; no pathLen constraints. */
  deep: TestCert[];
  /** Issued by deep[5]: a path of exactly MAX_CHAIN_DEPTH (8) certificates. */
  leafAtMaxDepth: TestCert;
  /** Issued by deep[6]: 9 certificates. */
  leafTooDeep: TestCert;
  loopA: TestCert;
  loopB: TestCert;
  leafOfLoop: TestCert;
  crls: {
    /** By inter; revokes leafRevoked; nextUpdate NOW+7d. */
    inter: TestCrl;
    /** By root; revokes interRevoked; nextUpdate NOW+30d. */
    root: TestCrl;
    /** By inter; nextUpdate NOW-1d. */
    interStale: TestCrl;
    /** By inter; thisUpdate NOW+1d. */
    interFuture: TestCrl;
    /** Names inter as issuer, signed by another key. */
    interForged: TestCrl;
    /** By inter with ecdsa-with-SHA1. */
    interSha1: TestCrl;
    /** By interNoCrlSign (whose key usage lacks cRLSign). */
    noCrlSign: TestCrl;
  };
}

/** Builds every fixture of {@link ChainFixtures}. Takes about a second (two RSA keys). */
export async function createChainFixtures(): Promise<ChainFixtures> {
  const root = await makeRoot('CN=Bouncer Test Root,O=Bouncer Tests');
  const inter = await makeIntermediate('CN=Bouncer Test Intermediate,O=Bouncer Tests', root, { pathLen: 0 });
  const otherRoot = await makeRoot('CN=Other Root,O=Elsewhere');
  const lookAlikeRoot = await makeRoot(root.cert.subject);
  const interExpired = await makeIntermediate('CN=Expired Intermediate', root, { notBefore: NOW - 800 * DAY, notAfter: NOW - DAY });
  const rootExpired = await makeRoot('CN=Expired Root', { notBefore: NOW - 3650 * DAY, notAfter: NOW - 10 * DAY });
  const interNotCa = await makeIntermediate('CN=Not A CA', root, { ca: false, keyUsage: KeyUsageFlags.keyCertSign | KeyUsageFlags.digitalSignature });
  const interNoCertSign = await makeIntermediate('CN=No CertSign CA', root, { keyUsage: KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature });
  const subInter = await makeIntermediate('CN=Sub Intermediate', inter);
  const interServerEku = await makeIntermediate('CN=Server Only CA', root, { eku: [EKU_SERVER_AUTH] });
  const rsaRoot = await makeRoot('CN=RSA Root', { keyKind: 'rsa2048' });
  const interSha1 = await makeIntermediate('CN=SHA1 Intermediate', rsaRoot, { hash: 'SHA-1' });
  const interRevoked = await makeIntermediate('CN=Revoked Intermediate', root);
  const interNoCrlSign = await makeIntermediate('CN=No CRLSign CA', root, { keyUsage: KeyUsageFlags.keyCertSign });
  const rolloverKeys = await generateKeys();
  const rolloverOld = await makeIntermediate('CN=Rollover CA', root, { keys: rolloverKeys, notBefore: NOW - 800 * DAY, notAfter: NOW - DAY });
  const rolloverNew = await makeIntermediate('CN=Rollover CA', root, { keys: rolloverKeys, notBefore: NOW - 2 * DAY });
  const interDecoy = await makeIntermediate(inter.cert.subject, otherRoot);

  const deep: TestCert[] = [];
  let parent = root;
  for (let i = 0; i < 8; i++) {
    parent = await makeIntermediate(`CN=Deep ${i}`, parent);
    deep.push(parent);
  }

  // Two CAs that issue each other: a loop that has no way out to a root.
  const loopKeysA = await generateKeys();
  const loopKeysB = await generateKeys();
  const loopA = await makeCert({ subject: 'CN=Loop A', keys: loopKeysA, ca: true, issuer: { cert: { subject: 'CN=Loop B' } as ParsedCert, keys: loopKeysB, pem: '' } });
  const loopB = await makeCert({ subject: 'CN=Loop B', keys: loopKeysB, ca: true, issuer: loopA });

  const leafRevoked = await makeLeaf('CN=revoked client', inter);
  const at = (i: number): TestCert => deep[i] as TestCert;
  const fixtures: Omit<ChainFixtures, 'crls'> = {
    root,
    inter,
    leafDirect: await makeLeaf('CN=direct client', root),
    leafViaInter: await makeLeaf('CN=client via intermediate', inter),
    otherRoot,
    leafOfOtherRoot: await makeLeaf('CN=foreign client', otherRoot),
    lookAlikeRoot,
    leafOfLookAlike: await makeLeaf('CN=forged client', lookAlikeRoot),
    leafExpired: await makeLeaf('CN=expired client', root, { notBefore: NOW - 400 * DAY, notAfter: NOW - DAY }),
    leafNotYetValid: await makeLeaf('CN=future client', root, { notBefore: NOW + DAY, notAfter: NOW + 100 * DAY }),
    interExpired,
    leafUnderExpiredInter: await makeLeaf('CN=client of expired intermediate', interExpired),
    rootExpired,
    leafUnderExpiredRoot: await makeLeaf('CN=client of expired root', rootExpired),
    leafNoEku: await makeLeaf('CN=no eku client', root, { eku: null }),
    leafServerAuthOnly: await makeLeaf('CN=server.example', root, { eku: [EKU_SERVER_AUTH] }),
    leafAnyEkuOnly: await makeLeaf('CN=any eku client', root, { eku: [EKU_ANY] }),
    leafIsCa: await makeLeaf('CN=ca as client', root, { ca: true, eku: [EKU_CLIENT_AUTH] }),
    leafKeyEnciphermentOnly: await makeLeaf('CN=encipherment client', root, { keyUsage: KeyUsageFlags.keyEncipherment }),
    leafUnknownCriticalExt: await makeLeaf('CN=critical ext client', root, {
      extraExtensions: [new Extension('1.3.6.1.4.1.55555.1', true, new Uint8Array([0x05, 0x00]))],
    }),
    interNotCa,
    leafUnderNotCa: await makeLeaf('CN=client of non-CA', interNotCa),
    interNoCertSign,
    leafUnderNoCertSign: await makeLeaf('CN=client of no-certsign CA', interNoCertSign),
    subInter,
    leafUnderSubInter: await makeLeaf('CN=client of sub intermediate', subInter),
    interServerEku,
    leafUnderServerEkuInter: await makeLeaf('CN=client of server-only CA', interServerEku),
    leafSha1: await makeLeaf('CN=sha1 client', root, { hash: 'SHA-1' }),
    rsaRoot,
    leafOfRsaRoot: await makeLeaf('CN=client of rsa root', rsaRoot),
    interSha1,
    leafUnderSha1Inter: await makeLeaf('CN=client of sha1 intermediate', interSha1),
    leafRsa1024: await makeLeaf('CN=rsa1024 client', root, { keyKind: 'rsa1024' }),
    leafRevoked,
    interRevoked,
    leafUnderRevokedInter: await makeLeaf('CN=client of revoked intermediate', interRevoked),
    interNoCrlSign,
    leafUnderNoCrlSign: await makeLeaf('CN=client of no-crlsign CA', interNoCrlSign),
    rolloverOld,
    rolloverNew,
    leafOfRollover: await makeLeaf('CN=client of rollover CA', rolloverNew),
    interDecoy,
    deep,
    leafAtMaxDepth: await makeLeaf('CN=client at max depth', at(5)),
    leafTooDeep: await makeLeaf('CN=client too deep', at(6)),
    loopA,
    loopB,
    leafOfLoop: await makeLeaf('CN=client of loop', loopA),
  };
  const crls: ChainFixtures['crls'] = {
    inter: await makeCrl({ issuer: inter, revoked: [leafRevoked.cert] }),
    root: await makeCrl({ issuer: root, revoked: [interRevoked.cert], nextUpdate: NOW + 30 * DAY }),
    interStale: await makeCrl({ issuer: inter, thisUpdate: NOW - 10 * DAY, nextUpdate: NOW - DAY }),
    interFuture: await makeCrl({ issuer: inter, thisUpdate: NOW + DAY, nextUpdate: NOW + 8 * DAY }),
    interForged: await makeCrl({ issuer: inter, signingKeys: otherRoot.keys }),
    interSha1: await makeCrl({ issuer: inter, hash: 'SHA-1' }),
    noCrlSign: await makeCrl({ issuer: interNoCrlSign }),
  };
  return { ...fixtures, crls };
}
