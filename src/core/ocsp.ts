import 'reflect-metadata';
import { hash, verify as cryptoVerify } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate, Extension, Name } from '@peculiar/asn1-x509';
import {
  BasicOCSPResponse,
  CertID,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  Request,
  TBSRequest,
  id_kp_OCSPSigning,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
  type SingleResponse,
} from '@peculiar/asn1-ocsp';
import { SIGNATURE_ALGORITHMS, STRONG_SIGNATURE_OIDS, parseCertificateDer, verifySignedBy, type ParsedCert } from './cert-parse.js';
import { normalizeSerialHex } from './crl.js';

/** Hash algorithms for the CertID (RFC 6960 §4.1.1); SHA-1 is what most responders index by. */
const CERT_ID_HASHES = { sha1: '1.3.14.3.2.26', sha256: '2.16.840.1.101.3.4.2.1' } as const;
export type CertIdHash = keyof typeof CERT_ID_HASHES;

/** RFC 8954 §2.1: a nonce is 1 to 32 octets. */
export const MAX_NONCE_BYTES = 32;

/** Certificates a response may carry to name a delegated responder; real responders send one. */
const MAX_RESPONSE_CERTS = 4;

/** A request built for one certificate, with what its response must echo. */
export interface OcspRequest {
  readonly der: Buffer;
  /** The CertID as DER: the response's SingleResponse must carry the same one. */
  readonly certIdDer: Buffer;
  readonly hashName: CertIdHash;
  readonly serial: string;
  readonly nonce: Buffer | undefined;
}

/** What a verified response says about the certificate (RFC 6960 §2.2). */
export type OcspStatus =
  | { readonly status: 'good'; readonly thisUpdate: number; readonly nextUpdate: number | undefined }
  | { readonly status: 'revoked'; readonly thisUpdate: number; readonly nextUpdate: number | undefined; readonly revokedAt: number; readonly reasonCode: number | undefined }
  | { readonly status: 'unknown'; readonly thisUpdate: number; readonly nextUpdate: number | undefined };

/** Why a response cannot be relied on; each becomes the `reason` label of the OCSP metrics. */
export type OcspFailure =
  | 'malformed'
  | 'responder_error'
  | 'bad_signature'
  | 'unauthorized_responder'
  | 'wrong_certificate'
  | 'nonce_mismatch'
  | 'not_yet_valid'
  | 'stale';

export type OcspResult = ({ readonly ok: true } & OcspStatus) | { readonly ok: false; readonly failure: OcspFailure; readonly detail: string };

export interface OcspCheckOptions {
  readonly nowMs: number;
  /** Allowed clock difference with the responder, both ways (RFC 6960 §4.2.2.1 leaves it local). */
  readonly skewMs: number;
  /** A response without nextUpdate is good for this long after its thisUpdate (RFC 6960 §2.4: "newer information is always available"). */
  readonly noNextUpdateMaxAgeMs: number;
  /** When a nonce was sent, must the response echo it? Responders serving pre-signed answers (CDNs) omit it. */
  readonly requireNonceEcho: boolean;
}

interface CertFields {
  readonly subjectDer: Buffer;
  readonly issuerDer: Buffer;
  /** The subjectPublicKey BIT STRING's value, what RFC 6960 §4.1.1 hashes. */
  readonly publicKeyBits: Buffer;
}

const certFields = new WeakMap<ParsedCert, CertFields>();

function fieldsOf(cert: ParsedCert): CertFields {
  let f = certFields.get(cert);
  if (f === undefined) {
    const tbs = AsnConvert.parse(cert.der, Certificate).tbsCertificate;
    f = {
      subjectDer: Buffer.from(AsnConvert.serialize(tbs.subject)),
      issuerDer: Buffer.from(AsnConvert.serialize(tbs.issuer)),
      publicKeyBits: Buffer.from(tbs.subjectPublicKeyInfo.subjectPublicKey),
    };
    certFields.set(cert, f);
  }
  return f;
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** The serial as DER INTEGER content: a leading zero octet keeps a high first bit from reading as negative. */
function serialBytes(serialHex: string): Buffer {
  const even = serialHex.length % 2 === 0 ? serialHex : `0${serialHex}`;
  return Buffer.from(parseInt(even.slice(0, 2), 16) >= 0x80 ? `00${even}` : even, 'hex');
}

function buildCertId(leaf: ParsedCert, issuer: ParsedCert, hashName: CertIdHash): CertID {
  const issuerFields = fieldsOf(issuer);
  // issuerNameHash is over the leaf's issuer field, which names the issuer (§4.1.1).
  const nameDer = fieldsOf(leaf).issuerDer;
  return new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: CERT_ID_HASHES[hashName], parameters: null }),
    issuerNameHash: new OctetString(hash(hashName, nameDer, 'buffer')),
    issuerKeyHash: new OctetString(hash(hashName, issuerFields.publicKeyBits, 'buffer')),
    serialNumber: toArrayBuffer(serialBytes(leaf.serial)),
  });
}

/**
 * Builds an unsigned OCSPRequest (RFC 6960 §4.1.1) for `leaf`, issued by
 * `issuer`, with a nonce extension (RFC 8954) when `nonce` is given.
 *
 * @example
 * ```ts
 * const req = buildOcspRequest(leaf, issuer, { nonce: randomBytes(16) });
 * ```
 */
export function buildOcspRequest(leaf: ParsedCert, issuer: ParsedCert, options: { nonce?: Buffer | undefined; hash?: CertIdHash } = {}): OcspRequest {
  const hashName = options.hash ?? 'sha1';
  const nonce = options.nonce;
  if (nonce !== undefined && (nonce.length < 1 || nonce.length > MAX_NONCE_BYTES)) {
    throw new RangeError(`an OCSP nonce is 1 to ${MAX_NONCE_BYTES} octets (RFC 8954 §2.1); got ${nonce.length}`);
  }
  const certId = buildCertId(leaf, issuer, hashName);
  const tbs = new TBSRequest({ requestList: [new Request({ reqCert: certId })] });
  if (nonce !== undefined) {
    // RFC 8954 §2.1: extnValue holds the DER of Nonce ::= OCTET STRING.
    tbs.requestExtensions = [new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(AsnConvert.serialize(new OctetString(nonce))) })];
  }
  const der = Buffer.from(AsnConvert.serialize(new OCSPRequest({ tbsRequest: tbs })));
  return { der, certIdDer: Buffer.from(AsnConvert.serialize(certId)), hashName, serial: normalizeSerialHex(leaf.serial), nonce };
}

const fail = (failure: OcspFailure, detail: string): OcspResult => ({ ok: false, failure, detail });
const iso = (ms: number): string => new Date(ms).toISOString();

function sameCertId(single: SingleResponse, request: OcspRequest): boolean {
  try {
    const got = single.certID;
    const want = AsnConvert.parse(request.certIdDer, CertID);
    return (
      got.hashAlgorithm.algorithm === want.hashAlgorithm.algorithm &&
      Buffer.from(got.issuerNameHash.buffer).equals(Buffer.from(want.issuerNameHash.buffer)) &&
      Buffer.from(got.issuerKeyHash.buffer).equals(Buffer.from(want.issuerKeyHash.buffer)) &&
      normalizeSerialHex(Buffer.from(got.serialNumber).toString('hex')) === request.serial
    );
  } catch {
    return false;
  }
}

/** Does the ResponderID (RFC 6960 §4.2.2.3) name `cert`, by subject or by SHA-1 of its key? */
function responderIdNames(basic: BasicOCSPResponse, cert: ParsedCert): boolean {
  const id = basic.tbsResponseData.responderID;
  const fields = fieldsOf(cert);
  if (id.byKey !== undefined) return Buffer.from(id.byKey.buffer).equals(hash('sha1', fields.publicKeyBits, 'buffer'));
  if (id.byName !== undefined) return Buffer.from(AsnConvert.serialize(id.byName as Name)).equals(fields.subjectDer);
  return false;
}

/**
 * Finds who signed the response: the issuing CA itself, or a delegated
 * responder (RFC 6960 §4.2.2.2) that the issuing CA certified directly, with
 * id-kp-OCSPSigning in its EKU, valid now. Anyone else is refused.
 */
function findSigner(basic: BasicOCSPResponse, issuer: ParsedCert, nowMs: number): { signer: ParsedCert } | { failure: OcspResult } {
  if (responderIdNames(basic, issuer)) return { signer: issuer };
  const certs = basic.certs ?? [];
  if (certs.length > MAX_RESPONSE_CERTS) return { failure: fail('malformed', `response carries ${certs.length} certificates; at most ${MAX_RESPONSE_CERTS} are read`) };
  for (const asn of certs) {
    let cert: ParsedCert;
    try {
      cert = parseCertificateDer(Buffer.from(AsnConvert.serialize(asn)));
    } catch (err) {
      return { failure: fail('malformed', `responder certificate does not parse: ${(err as Error).message}`) };
    }
    if (!responderIdNames(basic, cert)) continue;
    if (cert.issuer !== issuer.subject || !safeVerifySignedBy(cert, issuer)) {
      return { failure: fail('unauthorized_responder', `responder ${cert.subject} is not certified by the issuing CA ${issuer.subject}`) };
    }
    if (!cert.extKeyUsage?.includes(id_kp_OCSPSigning)) {
      return { failure: fail('unauthorized_responder', `responder ${cert.subject} lacks the id-kp-OCSPSigning extended key usage`) };
    }
    if (nowMs < cert.notBefore || nowMs > cert.notAfter) {
      return { failure: fail('unauthorized_responder', `responder certificate ${cert.subject} is outside its validity (${iso(cert.notBefore)} to ${iso(cert.notAfter)})`) };
    }
    return { signer: cert };
  }
  return { failure: fail('unauthorized_responder', 'the responder is neither the issuing CA nor a certificate included in the response') };
}

function safeVerifySignedBy(child: ParsedCert, issuer: ParsedCert): boolean {
  try {
    return verifySignedBy(child, issuer);
  } catch {
    return false;
  }
}

function signatureVerifies(basic: BasicOCSPResponse, signer: ParsedCert): boolean {
  const oid = basic.signatureAlgorithm.algorithm;
  const alg = SIGNATURE_ALGORITHMS.get(oid);
  if (!alg || !STRONG_SIGNATURE_OIDS.has(oid) || signer.publicKey.asymmetricKeyType !== alg.keyType || !basic.tbsResponseDataRaw) return false;
  try {
    return cryptoVerify(alg.digest, Buffer.from(basic.tbsResponseDataRaw), signer.publicKey, Buffer.from(basic.signature));
  } catch {
    return false;
  }
}

function checkNonce(basic: BasicOCSPResponse, request: OcspRequest, requireEcho: boolean): OcspResult | undefined {
  if (request.nonce === undefined) return undefined;
  const ext = basic.tbsResponseData.responseExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  if (ext === undefined) return requireEcho ? fail('nonce_mismatch', 'the response does not echo the request nonce') : undefined;
  const sent = Buffer.from(AsnConvert.serialize(new OctetString(request.nonce)));
  return Buffer.from(ext.extnValue.buffer).equals(sent) ? undefined : fail('nonce_mismatch', 'the response nonce differs from the one sent');
}

function decodeBasic(der: Buffer): BasicOCSPResponse | OcspResult {
  let outer: OCSPResponse;
  try {
    outer = AsnConvert.parse(der, OCSPResponse);
  } catch (err) {
    return fail('malformed', `not an OCSPResponse: ${(err as Error).message}`);
  }
  if (outer.responseStatus !== OCSPResponseStatus.successful) {
    return fail('responder_error', `responder answered ${OCSPResponseStatus[outer.responseStatus] ?? String(outer.responseStatus)}`);
  }
  if (!outer.responseBytes || outer.responseBytes.responseType !== id_pkix_ocsp_basic) {
    return fail('malformed', 'the response is not a BasicOCSPResponse (RFC 6960 §4.2.1)');
  }
  try {
    return AsnConvert.parse(outer.responseBytes.response.buffer, BasicOCSPResponse);
  } catch (err) {
    return fail('malformed', `BasicOCSPResponse does not parse: ${(err as Error).message}`);
  }
}

/**
 * Checks an OCSP response (RFC 6960 §3.2) for the certificate `request` asked
 * about: successful status, a BasicOCSPResponse signed with a strong algorithm
 * by the issuing CA or a delegated responder it certified, a SingleResponse for
 * the same CertID, the nonce echoed, and thisUpdate/nextUpdate around `nowMs`
 * within `skewMs`. Never throws; anything unexpected is a failure with a reason.
 *
 * @example
 * ```ts
 * const r = checkOcspResponse(body, req, issuer, { nowMs, skewMs: 60_000, noNextUpdateMaxAgeMs: 600_000, requireNonceEcho: true });
 * if (r.ok && r.status === 'revoked') deny('client_cert_revoked');
 * ```
 */
export function checkOcspResponse(der: Buffer, request: OcspRequest, issuer: ParsedCert, options: OcspCheckOptions): OcspResult {
  try {
    const basic = decodeBasic(der);
    if (!(basic instanceof BasicOCSPResponse)) return basic;
    const found = findSigner(basic, issuer, options.nowMs);
    if ('failure' in found) return found.failure;
    if (!signatureVerifies(basic, found.signer)) return fail('bad_signature', `response signature does not verify with the key of ${found.signer.subject}`);
    const nonceProblem = checkNonce(basic, request, options.requireNonceEcho);
    if (nonceProblem) return nonceProblem;
    const single = basic.tbsResponseData.responses.find((r) => sameCertId(r, request));
    if (!single) return fail('wrong_certificate', `the response has no status for serial ${request.serial}`);
    return judgeSingle(single, options);
  } catch (err) {
    return fail('malformed', `response could not be read: ${(err as Error).message}`);
  }
}

function judgeSingle(single: SingleResponse, options: OcspCheckOptions): OcspResult {
  const thisUpdate = single.thisUpdate.getTime();
  const given = single.nextUpdate?.getTime();
  if (!Number.isFinite(thisUpdate) || (given !== undefined && !Number.isFinite(given))) return fail('malformed', 'thisUpdate or nextUpdate is not a valid time');
  if (thisUpdate > options.nowMs + options.skewMs) return fail('not_yet_valid', `response thisUpdate ${iso(thisUpdate)} is in the future`);
  const validUntil = given ?? thisUpdate + options.noNextUpdateMaxAgeMs;
  if (options.nowMs - options.skewMs > validUntil) return fail('stale', `response is stale: ${given === undefined ? 'thisUpdate' : 'nextUpdate'} ${iso(given ?? thisUpdate)}`);
  const status = single.certStatus;
  if (status.revoked !== undefined) {
    return { ok: true, status: 'revoked', thisUpdate, nextUpdate: given, revokedAt: status.revoked.revocationTime.getTime(), reasonCode: status.revoked.revocationReason?.reason };
  }
  if (status.good !== undefined) return { ok: true, status: 'good', thisUpdate, nextUpdate: given };
  return { ok: true, status: 'unknown', thisUpdate, nextUpdate: given };
}
