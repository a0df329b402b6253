/**
 * checkOcspResponse with a fixed clock, on responses `openssl ocsp` wrote
 * offline (-reqin/-respout) for requests built by buildOcspRequest: the time
 * window with its skew, the nonce, the CertID, and responses that are not
 * usable at all.
 */
import { jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { AsnConvert } from '@peculiar/asn1-schema';
import { OCSPResponse, OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import { buildOcspRequest, checkOcspResponse, type OcspCheckOptions, type OcspRequest } from '../../src/core/ocsp.js';
import { createOpensslPki, type OpensslPki } from '../helpers/openssl-ocsp.js';

jest.setTimeout(60_000);

const SKEW = 60_000;
const DAY = 86_400_000;
let pki: OpensslPki;
let withNonce: OcspRequest;
let withoutNonce: OcspRequest;
let forRevoked: OcspRequest;
let answer: Buffer;
let answerNoNonce: Buffer;
let thisUpdate: number;

/** Has openssl answer `request` offline, as its responder would, valid for one day. */
function respond(request: OcspRequest, name: string): Buffer {
  writeFileSync(pki.path(`${name}.req`), request.der);
  execFileSync('openssl', ['ocsp', '-index', 'index.txt', '-CA', 'ca.pem', '-rsigner', 'ca.pem', '-rkey', 'ca.key', '-reqin', `${name}.req`, '-respout', `${name}.resp`, '-ndays', '1'], {
    cwd: pki.dir,
    stdio: 'pipe',
  });
  return readFileSync(pki.path(`${name}.resp`));
}

const opts = (nowMs: number, requireNonceEcho = true): OcspCheckOptions => ({ nowMs, skewMs: SKEW, noNextUpdateMaxAgeMs: 600_000, requireNonceEcho });

beforeAll(() => {
  pki = createOpensslPki('');
  const nonce = Buffer.alloc(16, 7);
  withNonce = buildOcspRequest(pki.leaves.good!.cert, pki.ca, { nonce });
  withoutNonce = buildOcspRequest(pki.leaves.good!.cert, pki.ca);
  forRevoked = buildOcspRequest(pki.leaves.revoked!.cert, pki.ca, { nonce });
  answer = respond(withNonce, 'good');
  answerNoNonce = respond(withoutNonce, 'good-nononce');
  const first = checkOcspResponse(answer, withNonce, pki.ca, opts(Date.now()));
  if (!first.ok) throw new Error(`fixture response not usable: ${first.detail}`);
  thisUpdate = first.thisUpdate;
});

afterAll(() => pki?.remove());

test.each([
  ['just after thisUpdate', 1_000, 'good'],
  ['thisUpdate a little ahead, within the skew', -SKEW + 1_000, 'good'],
  ['thisUpdate beyond the skew ahead', -SKEW - 1_000, 'not_yet_valid'],
  ['just before nextUpdate', DAY - 1_000, 'good'],
  ['past nextUpdate, within the skew', DAY + SKEW - 1_000, 'good'],
  ['past nextUpdate beyond the skew', DAY + SKEW + 1_000, 'stale'],
])('time window: %s', (_what, offset, want) => {
  const r = checkOcspResponse(answer, withNonce, pki.ca, opts(thisUpdate + offset));
  expect(r.ok ? r.status : r.failure).toBe(want);
});

test('the nonce: echoed passes; absent is refused unless the echo is optional', () => {
  expect(checkOcspResponse(answerNoNonce, withNonce, pki.ca, opts(thisUpdate + 1000))).toMatchObject({ ok: false, failure: 'nonce_mismatch' });
  expect(checkOcspResponse(answerNoNonce, withNonce, pki.ca, opts(thisUpdate + 1000, false))).toMatchObject({ ok: true, status: 'good' });
  expect(checkOcspResponse(answerNoNonce, withoutNonce, pki.ca, opts(thisUpdate + 1000))).toMatchObject({ ok: true, status: 'good' });
});

test('an answer about another certificate is refused', () => {
  expect(checkOcspResponse(answer, forRevoked, pki.ca, opts(thisUpdate + 1000))).toMatchObject({ ok: false, failure: 'wrong_certificate' });
});

test('an answer checked against another issuer is refused', () => {
  const other = pki.leaves.good!.cert; // not a CA, and not the responder
  expect(checkOcspResponse(answer, withNonce, other, opts(thisUpdate + 1000))).toMatchObject({ ok: false, failure: 'unauthorized_responder' });
});

test.each([
  ['not DER at all', Buffer.from('hello'), 'malformed'],
  ['empty', Buffer.alloc(0), 'malformed'],
  ['tryLater', Buffer.from(AsnConvert.serialize(new OCSPResponse({ responseStatus: OCSPResponseStatus.tryLater }))), 'responder_error'],
  ['unauthorized', Buffer.from(AsnConvert.serialize(new OCSPResponse({ responseStatus: OCSPResponseStatus.unauthorized }))), 'responder_error'],
])('unusable response: %s', (_what, body, want) => {
  expect(checkOcspResponse(body, withNonce, pki.ca, opts(Date.now()))).toMatchObject({ ok: false, failure: want });
});

test('a truncated response never passes; a flipped bit never changes the answer', () => {
  for (let i = 0; i < answer.length; i += 7) {
    const flipped = Buffer.from(answer);
    flipped[i] = (flipped[i] as number) ^ 0x01;
    const r = checkOcspResponse(flipped, withNonce, pki.ca, opts(thisUpdate + 1000));
    if (r.ok) expect(r.status).toBe('good'); // a flip in an unsigned field (the certs list is absent here) may leave it valid
    expect(checkOcspResponse(answer.subarray(0, i), withNonce, pki.ca, opts(thisUpdate + 1000)).ok).toBe(false);
  }
});

test('the nonce must be 1 to 32 octets (RFC 8954)', () => {
  expect(() => buildOcspRequest(pki.leaves.good!.cert, pki.ca, { nonce: Buffer.alloc(0) })).toThrow(RangeError);
  expect(() => buildOcspRequest(pki.leaves.good!.cert, pki.ca, { nonce: Buffer.alloc(33) })).toThrow(RangeError);
});
