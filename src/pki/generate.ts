import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
  X509CrlGenerator,
  X509Certificate as PeculiarX509,
  type JsonGeneralName,
} from '@peculiar/x509';
import { EKU_CLIENT_AUTH, parseCertificateBundle, type ParsedCert } from '../core/cert-parse.js';
import { BouncerError } from '../core/errors.js';
import {
  checkDnsName,
  checkEmail,
  checkIp,
  checkNameAttribute,
  checkOid,
  checkPathLen,
  checkUri,
  normalizeSerial,
  resolveValidity,
} from './inputs.js';
import { toPem } from '../core/pem.js';
import { generateKey, importSigner, type KeyAlgorithm, type SignatureHash, type Signer } from './keys.js';

export type { KeyAlgorithm, SignatureHash } from './keys.js';
export { KEY_ALGORITHMS } from './keys.js';

/** A certificate and its private key, both PEM. `keyPem` is unencrypted PKCS#8. */
export interface KeyPairPem {
  readonly certPem: string;
  readonly keyPem: string;
}

/** Options every issuing function shares. */
export interface CertOptions {
  /** Subject CN; required, at most 64 characters. */
  commonName: string;
  /** Subject O, when given. */
  organization?: string;
  /** Key type of the new certificate. Default `ec-p256`. */
  keyAlgorithm?: KeyAlgorithm;
  /** Lifetime from now. Defaults: 10 years for roots, 5 for intermediates, 1 for devices and servers. */
  validDays?: number;
  /** Explicit start; wins over the default (now minus a few minutes of clock-skew allowance). */
  notBefore?: Date;
  /** Explicit end; wins over `validDays` and is not checked against the issuer's end (tests use this). */
  notAfter?: Date;
  /** Hex serial. Default: 16 random bytes, positive. */
  serialNumber?: string;
  /** Test knob: override the signature hash. SHA-1 exists only to produce weak certificates. */
  signatureHash?: SignatureHash;
  /** Test knob: RSA modulus length, e.g. 1024 for a weak key. */
  rsaBits?: number;
  /** What "now" is, in milliseconds since the epoch (default `Date.now`): lifetimes count from it. */
  clock?: () => number;
}

/** Options for {@link createRootCa}. */
export interface RootCaOptions extends CertOptions {
  /** basicConstraints pathLenConstraint; absent means no limit. */
  pathLen?: number;
}

/** Options for {@link issueIntermediateCa}. */
export interface IntermediateCaOptions extends CertOptions {
  issuer: KeyPairPem;
  /** basicConstraints pathLenConstraint; absent means no limit (beyond the issuer's). */
  pathLen?: number;
}

/** Options for {@link issueClientCert}. */
export interface ClientCertOptions extends CertOptions {
  issuer: KeyPairPem;
  dns?: string[];
  uris?: string[];
  emails?: string[];
  /** EKU OIDs. Default `[clientAuth]`; `[]` omits the extension (tests of EKU-less devices). */
  extKeyUsage?: string[];
  /** Test knob: mark the device certificate as a CA. */
  isCa?: boolean;
}

/** Options for {@link issueServerCert}. */
export interface ServerCertOptions extends CertOptions {
  issuer: KeyPairPem;
  /** DNS names; the leftmost label may be `*`. */
  dns: string[];
  ips?: string[];
}

/** One revoked certificate for {@link issueCrl}. */
export interface RevokedEntry {
  /** Hex serial, as `ParsedCert.serial` or openssl prints it. */
  serialNumber: string;
  /** Default: the CRL's thisUpdate. */
  revokedAt?: Date;
}

/** Options for {@link issueCrl}. */
export interface CrlOptions {
  issuer: KeyPairPem;
  revoked: RevokedEntry[];
  /** Default: now (`clock`). */
  thisUpdate?: Date;
  /** Default: thisUpdate + 7 days. RFC 5280 §5.1.2.5 requires conforming issuers to set it. */
  nextUpdate?: Date;
  signatureHash?: SignatureHash;
  /** cRLNumber (RFC 5280 §5.2.3), which must grow with each CRL. Default: thisUpdate in Unix seconds. */
  crlNumber?: bigint;
  /** What "now" is, in milliseconds since the epoch (default `Date.now`): the default thisUpdate. */
  clock?: () => number;
}

/** The caller's "now" (its clock, or the system's). */
function nowOf(o: { readonly clock?: (() => number) | undefined }): Date {
  return new Date((o.clock ?? Date.now)());
}

/** Default lifetimes, in days; each is the usual choice for its tier. */
export const DEFAULT_VALID_DAYS = { root: 3650, intermediate: 1825, leaf: 365 } as const;

/** A CRL is refreshed weekly unless the caller says otherwise. */
const DEFAULT_CRL_DAYS = 7;

const CA_KEY_USAGE = KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign;
const ID_CE_CRL_NUMBER = '2.5.29.20';

/** The issuer side of a signature: parsed certificate, signing key and what to copy from it. */
interface LoadedIssuer {
  readonly parsed: ParsedCert;
  readonly name: Name;
  readonly signer: Signer;
  readonly keyId: string | undefined;
}

/**
 * Creates a self-signed root CA: basicConstraints CA:true (critical), keyCertSign and
 * cRLSign (critical), and a subject key identifier.
 *
 * @example
 * const ca = await createRootCa({ commonName: 'acme device root CA', organization: 'acme' });
 * writeFileSync('acme-ca.pem', ca.certPem);
 */
export async function createRootCa(o: RootCaOptions): Promise<KeyPairPem> {
  checkSubject(o);
  checkPathLen(o.pathLen);
  const validity = resolveValidity({ ...o, defaultDays: DEFAULT_VALID_DAYS.root, now: nowOf(o) });
  const serialNumber = serialOrRandom(o.serialNumber);
  const key = await generateKey(o.keyAlgorithm, o.rsaBits);
  const signer = await importSigner(key.keyPem, o.signatureHash, 'new root key');
  const name = subjectName(o);
  const cert = await X509CertificateGenerator.create(
    {
      serialNumber,
      subject: name,
      issuer: name,
      ...validity,
      publicKey: key.publicKey,
      signingKey: signer.key,
      signingAlgorithm: signer.algorithm,
      extensions: [
        new BasicConstraintsExtension(true, o.pathLen, true),
        new KeyUsagesExtension(CA_KEY_USAGE, true),
        await SubjectKeyIdentifierExtension.create(key.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  return { certPem: toPem(new Uint8Array(cert.rawData), 'CERTIFICATE'), keyPem: key.keyPem };
}

/**
 * Issues an intermediate CA under `issuer`, with authority and subject key identifiers so
 * chain builders can match it to its parent.
 *
 * @example
 * const devicesCa = await issueIntermediateCa({ issuer: root, commonName: 'acme devices CA', pathLen: 0 });
 */
export async function issueIntermediateCa(o: IntermediateCaOptions): Promise<KeyPairPem> {
  checkSubject(o);
  checkPathLen(o.pathLen);
  return issue(o, DEFAULT_VALID_DAYS.intermediate, (publicKey) =>
    Promise.all([
      new BasicConstraintsExtension(true, o.pathLen, true),
      new KeyUsagesExtension(CA_KEY_USAGE, true),
      SubjectKeyIdentifierExtension.create(publicKey, false, webcrypto),
    ]),
  );
}

/**
 * Issues a device (client) certificate: CA:false, digitalSignature, the clientAuth EKU and
 * the given SANs.
 *
 * @example
 * const laptop = await issueClientCert({ issuer: ca, commonName: 'acme-laptop-1', uris: ['spiffe://acme.test/device/laptop-1'] });
 */
export async function issueClientCert(o: ClientCertOptions): Promise<KeyPairPem> {
  checkSubject(o);
  const names: JsonGeneralName[] = [
    ...(o.dns ?? []).map((value) => (checkDnsName(value, false), { type: 'dns' as const, value })),
    ...(o.uris ?? []).map((value) => (checkUri(value), { type: 'url' as const, value })),
    ...(o.emails ?? []).map((value) => (checkEmail(value), { type: 'email' as const, value })),
  ];
  const eku = o.extKeyUsage ?? [EKU_CLIENT_AUTH];
  eku.forEach(checkOid);
  return issue(o, DEFAULT_VALID_DAYS.leaf, async (publicKey) => {
    const ext: Extension[] = [
      new BasicConstraintsExtension(o.isCa === true, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature | (o.isCa ? CA_KEY_USAGE : 0), true),
      await SubjectKeyIdentifierExtension.create(publicKey, false, webcrypto),
    ];
    if (eku.length > 0) ext.push(new ExtendedKeyUsageExtension(eku, false));
    if (names.length > 0) ext.push(new SubjectAlternativeNameExtension(names, false));
    return ext;
  });
}

/**
 * Issues a TLS server certificate with the serverAuth EKU. RSA keys also get
 * keyEncipherment, which TLS 1.2 RSA key exchange needs.
 *
 * @example
 * const edge = await issueServerCert({ issuer: edgeCa, commonName: 'edge', dns: ['*.tenants.example'] });
 */
export async function issueServerCert(o: ServerCertOptions): Promise<KeyPairPem> {
  checkSubject(o);
  const dns = o.dns ?? [];
  const ips = o.ips ?? [];
  if (dns.length + ips.length === 0) throw new BouncerError('ERR_PKI_INPUT', 'a server certificate needs at least one DNS name or IP address');
  dns.forEach((d) => checkDnsName(d, true));
  ips.forEach(checkIp);
  const names: JsonGeneralName[] = [...dns.map((value) => ({ type: 'dns' as const, value })), ...ips.map((value) => ({ type: 'ip' as const, value }))];
  const rsa = (o.keyAlgorithm ?? (o.rsaBits !== undefined ? 'rsa-2048' : 'ec-p256')).startsWith('rsa-');
  return issue(o, DEFAULT_VALID_DAYS.leaf, async (publicKey) => [
    new BasicConstraintsExtension(false, undefined, true),
    new KeyUsagesExtension(KeyUsageFlags.digitalSignature | (rsa ? KeyUsageFlags.keyEncipherment : 0), true),
    new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth], false),
    await SubjectKeyIdentifierExtension.create(publicKey, false, webcrypto),
    new SubjectAlternativeNameExtension(names, false),
  ]);
}

/**
 * Issues a CRL listing `revoked`, signed by `issuer`, with the authority key identifier and
 * CRL number RFC 5280 §5.2 requires. Returns PEM (`X509 CRL`).
 *
 * @example
 * const crlPem = await issueCrl({ issuer: ca, revoked: [{ serialNumber: stolen.serial }] });
 */
export async function issueCrl(o: CrlOptions): Promise<string> {
  const thisUpdate = o.thisUpdate ?? nowOf(o);
  const nextUpdate = o.nextUpdate ?? new Date(thisUpdate.getTime() + DEFAULT_CRL_DAYS * 86_400_000);
  for (const [field, d] of [['thisUpdate', thisUpdate], ['nextUpdate', nextUpdate]] as const) {
    if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new BouncerError('ERR_PKI_INPUT', `${field} is not a valid date`);
  }
  if (Math.floor(nextUpdate.getTime() / 1000) <= Math.floor(thisUpdate.getTime() / 1000)) {
    throw new BouncerError('ERR_PKI_INPUT', 'nextUpdate must be after thisUpdate');
  }
  const seen = new Set<string>();
  const entries = (o.revoked ?? []).map((r) => {
    const serialNumber = normalizeSerial(r.serialNumber);
    if (seen.has(serialNumber)) throw new BouncerError('ERR_PKI_INPUT', `serial number ${serialNumber} is listed twice`);
    seen.add(serialNumber);
    if (r.revokedAt !== undefined && Number.isNaN(r.revokedAt.getTime())) throw new BouncerError('ERR_PKI_INPUT', `revokedAt of ${serialNumber} is not a valid date`);
    return { serialNumber, revocationDate: r.revokedAt ?? thisUpdate };
  });
  const crlNumber = o.crlNumber ?? BigInt(Math.floor(thisUpdate.getTime() / 1000));
  if (crlNumber < 0n) throw new BouncerError('ERR_PKI_INPUT', 'crlNumber must not be negative');
  const issuer = await loadIssuer(o.issuer, o.signatureHash, 'crl');
  const crl = await X509CrlGenerator.create(
    {
      issuer: issuer.name,
      thisUpdate,
      nextUpdate,
      entries,
      signingKey: issuer.signer.key,
      signingAlgorithm: issuer.signer.algorithm,
      extensions: [await authorityKeyId(issuer), new Extension(ID_CE_CRL_NUMBER, false, derInteger(crlNumber))],
    },
    webcrypto,
  );
  return toPem(new Uint8Array(crl.rawData), 'X509 CRL');
}

/** The shared pipeline for every certificate signed by another: check, load issuer, generate, sign. */
async function issue(
  o: CertOptions & { issuer: KeyPairPem },
  defaultDays: number,
  extensionsFor: (publicKey: webcrypto.CryptoKey) => Promise<Extension[]>,
): Promise<KeyPairPem> {
  const serialNumber = serialOrRandom(o.serialNumber);
  const issuer = await loadIssuer(o.issuer, o.signatureHash, 'certificate');
  const validity = resolveValidity({
    ...o,
    defaultDays,
    now: nowOf(o),
    issuerNotAfter: new Date(issuer.parsed.notAfter),
    issuerName: issuer.parsed.subject,
  });
  const key = await generateKey(o.keyAlgorithm, o.rsaBits);
  const extensions = [...(await extensionsFor(key.publicKey)), await authorityKeyId(issuer)];
  const cert = await X509CertificateGenerator.create(
    {
      serialNumber,
      subject: subjectName(o),
      issuer: issuer.name,
      ...validity,
      publicKey: key.publicKey,
      signingKey: issuer.signer.key,
      signingAlgorithm: issuer.signer.algorithm,
      extensions,
    },
    webcrypto,
  );
  return { certPem: toPem(new Uint8Array(cert.rawData), 'CERTIFICATE'), keyPem: key.keyPem };
}

/**
 * Reads the issuer and refuses anything that would produce a certificate nobody can verify:
 * a non-CA issuer, a CA whose key usage forbids the signature, or a key that is not the
 * certificate's. Only the first certificate of `certPem` counts, so a chain file works.
 */
async function loadIssuer(issuer: KeyPairPem, hash: SignatureHash | undefined, purpose: 'certificate' | 'crl'): Promise<LoadedIssuer> {
  if (!issuer || typeof issuer.certPem !== 'string' || typeof issuer.keyPem !== 'string') {
    throw new BouncerError('ERR_PKI_INPUT', 'issuer must have certPem and keyPem');
  }
  let parsed: ParsedCert;
  try {
    const first = parseCertificateBundle(issuer.certPem)[0];
    if (!first) throw new BouncerError('ERR_CERT_PARSE', 'no PEM certificate found');
    parsed = first;
  } catch (err) {
    throw new BouncerError('ERR_PKI_INPUT', `issuer certificate: ${(err as Error).message}`, { cause: err });
  }
  if (!parsed.isCa) throw new BouncerError('ERR_PKI_INPUT', `issuer "${parsed.subject}" is not a CA (basicConstraints CA:true is missing)`);
  const needed = purpose === 'crl' ? KeyUsageFlags.cRLSign : KeyUsageFlags.keyCertSign;
  if (parsed.keyUsage !== undefined && (parsed.keyUsage & needed) === 0) {
    throw new BouncerError('ERR_PKI_INPUT', `issuer "${parsed.subject}" key usage lacks ${purpose === 'crl' ? 'cRLSign' : 'keyCertSign'}`);
  }
  const signer = await importSigner(issuer.keyPem, hash, 'issuer key');
  const certSpki = parsed.publicKey.export({ format: 'der', type: 'spki' });
  if (!certSpki.equals(signer.spkiDer)) {
    throw new BouncerError('ERR_PKI_INPUT', `issuer key does not match the issuer certificate "${parsed.subject}"`);
  }
  const peculiar = new PeculiarX509(parsed.der);
  const keyId = peculiar.getExtension(SubjectKeyIdentifierExtension)?.keyId;
  return { parsed, name: peculiar.subjectName, signer, keyId };
}

/** AKI = the issuer's own SKI when it has one, so the two always match; else derived from its key. */
async function authorityKeyId(issuer: LoadedIssuer): Promise<AuthorityKeyIdentifierExtension> {
  if (issuer.keyId) return new AuthorityKeyIdentifierExtension(issuer.keyId, false);
  const ski = await SubjectKeyIdentifierExtension.create(new Uint8Array(issuer.parsed.publicKey.export({ format: 'der', type: 'spki' })), false, webcrypto);
  return new AuthorityKeyIdentifierExtension(ski.keyId, false);
}

function checkSubject(o: CertOptions): void {
  if (!o || typeof o !== 'object') throw new BouncerError('ERR_PKI_INPUT', 'options are required');
  checkNameAttribute(o.commonName, 'commonName', true);
  checkNameAttribute(o.organization, 'organization', false);
}

/** Subject DN in the conventional order, most significant first: O, then CN. */
function subjectName(o: CertOptions): Name {
  return new Name(o.organization !== undefined ? [{ O: [o.organization] }, { CN: [o.commonName] }] : [{ CN: [o.commonName] }]);
}

/**
 * 16 random bytes (RFC 5280 §4.1.2.2 asks for at least 64 bits of entropy from CAs). The top
 * bit is cleared so DER needs no pad byte and the hex we return is exactly what parsers print.
 */
function serialOrRandom(serial: string | undefined): string {
  if (serial !== undefined) return normalizeSerial(serial);
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f || 0x01;
  return bytes.toString('hex');
}

/** DER INTEGER for a non-negative bigint (X.690 §8.3), with the pad byte when the top bit is set. */
function derInteger(n: bigint): ArrayBuffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let body = Buffer.from(hex, 'hex');
  if ((body[0] ?? 0) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  if (body.length > 20) throw new BouncerError('ERR_PKI_INPUT', 'crlNumber is longer than 20 octets (RFC 5280 §5.2.3)');
  const der = Buffer.concat([Buffer.from([0x02, body.length]), body]);
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength);
}
