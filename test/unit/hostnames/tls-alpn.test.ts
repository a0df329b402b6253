// TLS-ALPN-01 (RFC 8737): the validation certificate, parsed independently with
// @peculiar/x509 and with openssl; the responder answered over real TLS by Node's
// client and by `openssl s_client`: the right SNI with ALPN acme-tls/1 gets the
// certificate for the pending key authorization and ALPN acme-tls/1; another ALPN,
// no ALPN, another SNI, or a finished challenge gets no TLS answer at all.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { SubjectAlternativeNameExtension, X509Certificate as PeculiarCertificate } from '@peculiar/x509';
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { pino } from 'pino';
import { parseClientHello } from '../../../src/hostnames/client-hello.js';
import { createMemoryHostnameStore } from '../../../src/hostnames/memory-store.js';
import { ACME_IDENTIFIER_OID, createTlsAlpnResponder, createValidationCertificate, type TlsAlpnResponder, type TlsAlpnResult } from '../../../src/hostnames/tls-alpn-responder.js';
import { createServer as createTcpServer } from 'node:net';
import { waitFor } from '../../helpers/ports.js';

const HOST = 'pay.alpn.test';
const KEY_AUTHORIZATION = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.Kd7uvLhjbxYy7XDs3Gf7Cq0XFvH1yqNq6O8ZzKqH7U0';

describe('the validation certificate', () => {
  it('is self-signed for the hostname with a critical acmeIdentifier holding SHA-256 of the key authorization', async () => {
    const { certPem, keyPem } = await createValidationCertificate(HOST, KEY_AUTHORIZATION);
    const cert = new PeculiarCertificate(certPem);
    const ext = cert.getExtension(ACME_IDENTIFIER_OID);
    expect(ext).not.toBeNull();
    expect(ext?.critical).toBe(true);
    // extnValue is the DER of an OCTET STRING whose content is the 32-byte digest (RFC 8737 §3).
    const digest = Buffer.from(AsnConvert.parse(ext?.value as ArrayBuffer, OctetString).buffer);
    expect(digest.toString('hex')).toBe(createHash('sha256').update(KEY_AUTHORIZATION).digest('hex'));
    expect(Buffer.from(ext?.value as ArrayBuffer).subarray(0, 2).toString('hex')).toBe('0420');
    const san = cert.getExtension(SubjectAlternativeNameExtension);
    expect(san?.names.items.map((n) => [n.type, n.value])).toEqual([['dns', HOST]]);
    expect(await cert.isSelfSigned()).toBe(true);
    // The key served is the certificate's.
    expect(new X509Certificate(certPem).checkPrivateKey((await import('node:crypto')).createPrivateKey(keyPem))).toBe(true);
  });

  it('reads the same way in openssl: SAN, and the extension critical with an OCTET STRING of the digest', async () => {
    const { certPem } = await createValidationCertificate(HOST, KEY_AUTHORIZATION);
    const openssl = (args: string[]): Promise<string> =>
      new Promise((resolve, reject) => {
        const child = execFile('openssl', args, (err, stdout) => (err ? reject(err) : resolve(stdout)));
        child.stdin?.end(certPem);
      });
    const text = await openssl(['x509', '-noout', '-text']);
    expect(text).toContain(`DNS:${HOST}`);
    expect(text).toMatch(/1\.3\.6\.1\.5\.5\.7\.1\.31: critical/);
    // asn1parse: the OID, critical TRUE, then extnValue, whose content is the DER of
    // OCTET STRING (04, length 32 = 0x20) around the SHA-256 digest.
    const parsed = await openssl(['asn1parse']);
    const digest = createHash('sha256').update(KEY_AUTHORIZATION).digest('hex').toUpperCase();
    expect(parsed).toMatch(new RegExp(`:1\\.3\\.6\\.1\\.5\\.5\\.7\\.1\\.31\\s*\\n.*BOOLEAN\\s+:255\\s*\\n.*OCTET STRING\\s+\\[HEX DUMP\\]:0420${digest}\\s*\\n`));
  });

  it('differs per key authorization and per call (a fresh key each time)', async () => {
    const a = await createValidationCertificate(HOST, KEY_AUTHORIZATION);
    const b = await createValidationCertificate(HOST, KEY_AUTHORIZATION);
    expect(a.keyPem).not.toBe(b.keyPem);
  });
});

/** The first bytes a real TLS client (Node's) sends, as a server would read them. */
async function captureClientHello(servername: string | undefined, ALPNProtocols: string[] | undefined): Promise<Buffer> {
  let got = Buffer.alloc(0);
  let done: (b: Buffer) => void = () => undefined;
  const captured = new Promise<Buffer>((r) => (done = r));
  const server = createTcpServer((socket) => {
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (parseClientHello(got).kind !== 'incomplete') {
        done(got);
        socket.destroy();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, ...(servername !== undefined ? { servername } : {}), ...(ALPNProtocols ? { ALPNProtocols } : {}) });
  client.on('error', () => undefined);
  const hello = await captured;
  client.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return hello;
}

describe('the ClientHello reader', () => {
  it('reads SNI (lower-cased) and the offered ALPN from a real ClientHello', async () => {
    const hello = await captureClientHello('Pay.ALPN.test', ['h2', 'acme-tls/1']);
    expect(parseClientHello(hello)).toEqual({ kind: 'ok', hello: { serverName: 'pay.alpn.test', alpn: ['h2', 'acme-tls/1'] } });
    expect(parseClientHello(await captureClientHello(undefined, undefined))).toEqual({ kind: 'ok', hello: { serverName: undefined, alpn: [] } });
  });

  it('waits for a whole record, and never throws on a cut or corrupted one', async () => {
    const hello = await captureClientHello(HOST, ['acme-tls/1']);
    for (let n = 0; n < hello.length; n++) expect(parseClientHello(hello.subarray(0, n)).kind).toBe('incomplete');
    // Every single-byte corruption past the record header parses or is refused, never throws.
    for (let i = 5; i < hello.length; i++) {
      const bad = Buffer.from(hello);
      bad[i] = (bad[i] as number) ^ 0xff;
      expect(['ok', 'invalid']).toContain(parseClientHello(bad).kind);
    }
  });

  it('refuses what is not a TLS handshake', () => {
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n')).kind).toBe('invalid');
    expect(parseClientHello(Buffer.from([22, 3, 1, 0, 200, 1])).kind).toBe('incomplete');
    expect(parseClientHello(Buffer.from([22, 3, 1, 0, 4, 1, 0, 0, 90])).kind).toBe('invalid');
    expect(parseClientHello(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0])).kind).toBe('invalid');
  });
});

interface Attempt {
  readonly cert: X509Certificate | undefined;
  readonly alpn: string | false | null | undefined;
  readonly error: string | undefined;
}

function handshake(port: number, servername: string | undefined, ALPNProtocols: string[] | undefined): Promise<Attempt> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ...(servername !== undefined ? { servername } : {}), ...(ALPNProtocols ? { ALPNProtocols } : {}), rejectUnauthorized: false });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerX509Certificate();
      resolve({ cert: peer, alpn: socket.alpnProtocol, error: undefined });
      // end(), not destroy(): the client's Finished still goes out, so the server's handshake ends too.
      socket.end();
    });
    socket.once('error', (err) => resolve({ cert: undefined, alpn: undefined, error: err.message }));
    socket.once('close', () => resolve({ cert: undefined, alpn: undefined, error: 'closed' }));
  });
}

function sClient(port: number, servername: string, alpn: string): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername, '-alpn', alpn], { timeout: 15_000 }, (_e, stdout, stderr) => resolve(`${stdout}\n${stderr}`));
    child.stdin?.end();
  });
}

describe('the responder', () => {
  const store = createMemoryHostnameStore();
  let responder: TlsAlpnResponder;
  let port: number;
  let now = 1_000;
  const results: TlsAlpnResult[] = [];

  beforeAll(async () => {
    await store.putChallenge('tok-alpn', KEY_AUTHORIZATION, HOST, 60_000, 'tls-alpn-01');
    await store.putChallenge('tok-http', 'tok-http.thumb', 'http.alpn.test', 60_000, 'http-01');
    responder = createTlsAlpnResponder({ keyAuthorization: (h) => store.getTlsAlpnChallenge(h, now), logger: pino({ level: 'silent' }), onResult: (r) => results.push(r) });
    port = await responder.listen('127.0.0.1', 0);
  });
  afterAll(async () => {
    await responder.close();
    await store.close();
  });

  it('presents the validation certificate with ALPN acme-tls/1 for a pending challenge', async () => {
    results.length = 0;
    const got = await handshake(port, HOST, ['acme-tls/1']);
    // The server's side of the handshake ends after the client's (TLS 1.3: the client's Finished).
    await waitFor('the responder to count the answer', async () => results.length > 0 || undefined, 5_000, 5);
    expect(results).toEqual(['answered']);
    expect(got.error).toBeUndefined();
    expect(got.alpn).toBe('acme-tls/1');
    expect(got.cert?.checkHost(HOST)).toBe(HOST);
    const ext = new PeculiarCertificate(got.cert?.raw as Buffer).getExtension(ACME_IDENTIFIER_OID);
    expect(Buffer.from(AsnConvert.parse(ext?.value as ArrayBuffer, OctetString).buffer).equals(createHash('sha256').update(KEY_AUTHORIZATION).digest())).toBe(true);
  });

  it('shows the same in openssl s_client', async () => {
    const out = await sClient(port, HOST, 'acme-tls/1');
    expect(out).toContain('ALPN protocol: acme-tls/1');
    expect(out).toMatch(new RegExp(`subject=.*CN\\s*=\\s*${HOST.replace(/\./g, '\\.')}`));
  });

  it.each([
    ['ALPN h2, http/1.1', HOST, ['h2', 'http/1.1'], 'no_acme_tls'],
    ['no ALPN', HOST, undefined, 'no_acme_tls'],
    ['another SNI', 'other.alpn.test', ['acme-tls/1'], 'no_challenge'],
    ['an HTTP-01 challenge\'s hostname', 'http.alpn.test', ['acme-tls/1'], 'no_challenge'],
    ['no SNI', undefined, ['acme-tls/1'], 'no_sni'],
  ] as const)('gives %s no TLS answer', async (_what, servername, alpn, result) => {
    results.length = 0;
    const got = await handshake(port, servername, alpn ? [...alpn] : undefined);
    expect(got.cert).toBeUndefined();
    expect(got.error).toBeDefined();
    expect(results).toEqual([result]);
  });

  it('closes what is not TLS', async () => {
    results.length = 0;
    const { connect: tcp } = await import('node:net');
    await new Promise<void>((resolve) => {
      const s = tcp(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.on('data', () => undefined);
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
    expect(results).toEqual(['not_tls']);
  });

  it('stops answering once the challenge expired, and the HTTP-01 lookup never sees a TLS-ALPN-01 token', async () => {
    expect(await store.getChallenge('tok-alpn', now)).toBeUndefined();
    expect(await store.getChallenge('tok-http', now)).toBe('tok-http.thumb');
    now = 60_000;
    const got = await handshake(port, HOST, ['acme-tls/1']);
    expect(got.cert).toBeUndefined();
    now = 1_000;
    await store.deleteChallenge('tok-alpn');
    expect((await handshake(port, HOST, ['acme-tls/1'])).cert).toBeUndefined();
  });
});
