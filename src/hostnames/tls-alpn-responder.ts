/**
 * Answers ACME TLS-ALPN-01 validations (RFC 8737). Envoy's public listener hands
 * this server, unchanged, every TLS connection whose ClientHello offers ALPN
 * `acme-tls/1` (docs/xds.md, "TLS-ALPN-01"); the CA's connection then gets, for
 * the hostname it names in SNI, a self-signed certificate whose SAN is that
 * hostname and whose critical id-pe-acmeIdentifier extension holds the SHA-256
 * of the pending challenge's key authorization (RFC 8737 §3), with ALPN
 * `acme-tls/1` negotiated, and is closed after the handshake.
 *
 * Anything else is closed before a byte of TLS is answered: a ClientHello
 * without `acme-tls/1`, without SNI, or for a hostname with no pending
 * TLS-ALPN-01 challenge. The key authorization is read from the hostname store
 * on every connection, so a replica that did not place the order answers too,
 * and nothing is answered once the challenge is over. The certificate and its
 * key are built here from the key authorization and kept in memory only; no
 * replica ever stores a validation key.
 */
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import acme from 'acme-client';
import type { Logger } from 'pino';
import { HOSTNAME_DEFAULTS } from '../config/defaults.js';
import { ACME_IDENTIFIER_OID, ACME_TLS_ALPN_PROTOCOL } from '../core/acme-tls-alpn.js';
import { parseClientHello } from './client-hello.js';

export { ACME_IDENTIFIER_OID, ACME_TLS_ALPN_PROTOCOL };

/** A TLS ClientHello fits in one record of at most 2^14 bytes plus its header (RFC 8446 §5.1). */
const MAX_HELLO_BYTES = 16_384 + 5;

export interface ValidationCertificate {
  readonly certPem: string;
  readonly keyPem: string;
}

/**
 * The validation certificate for `hostname` and a key authorization: self-signed,
 * SAN dNSName = hostname, critical acmeIdentifier = OCTET STRING of
 * SHA-256(keyAuthorization), on a fresh P-256 key. Built with acme-client's helper.
 */
export async function createValidationCertificate(hostname: string, keyAuthorization: string): Promise<ValidationCertificate> {
  const key = await acme.crypto.createPrivateEcdsaKey('P-256');
  // The helper reads only the identifier of the authorization.
  const authz = { identifier: { type: 'dns', value: hostname } } as acme.Authorization;
  const [, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, key);
  return { certPem: cert.toString(), keyPem: key.toString() };
}

/**
 * The connection as a stream that first gives the bytes already read (the ClientHello),
 * then the rest. TLSSocket over a plain net.Socket reads the kernel handle directly and
 * would miss bytes put back with unshift(); over a generic Duplex it reads the stream.
 */
function replaying(socket: Socket, head: Buffer): Duplex {
  const duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, (err) => callback(err ?? null));
    },
    final(callback) {
      socket.end(() => callback());
    },
    destroy(err, callback) {
      socket.destroy(err ?? undefined);
      callback(err);
    },
  });
  duplex.push(head);
  socket.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.once('end', () => duplex.push(null));
  socket.once('close', () => duplex.destroy());
  return duplex;
}

/**
 * How a connection to the responder ended, for the metric: `answered` (the validation
 * certificate presented), or closed without a TLS answer because the ClientHello did not
 * parse (`not_tls`), did not offer acme-tls/1 (`no_acme_tls`), named no server
 * (`no_sni`), or named a hostname with no pending TLS-ALPN-01 challenge (`no_challenge`);
 * `failed` when the answer itself failed (the store, the handshake).
 */
export type TlsAlpnResult = 'answered' | 'not_tls' | 'no_acme_tls' | 'no_sni' | 'no_challenge' | 'failed';

export interface TlsAlpnResponderDeps {
  /** The key authorization of the TLS-ALPN-01 challenge pending for a hostname, if any (the hostname store). */
  readonly keyAuthorization: (hostname: string) => Promise<string | undefined>;
  readonly logger: Logger;
  /** Validation certificates kept built, at most; default HOSTNAME_DEFAULTS.tlsAlpnCacheMax. */
  readonly cacheMax?: number | undefined;
  readonly handshakeTimeoutMs?: number | undefined;
  /** Told how each connection ended. */
  readonly onResult?: ((result: TlsAlpnResult) => void) | undefined;
}

export interface TlsAlpnResponder {
  /** Binds; resolves to the port (for port 0). */
  listen(host: string, port: number): Promise<number>;
  close(): Promise<void>;
}

export function createTlsAlpnResponder(deps: TlsAlpnResponderDeps): TlsAlpnResponder {
  const cacheMax = deps.cacheMax ?? HOSTNAME_DEFAULTS.tlsAlpnCacheMax;
  const timeoutMs = deps.handshakeTimeoutMs ?? HOSTNAME_DEFAULTS.tlsAlpnHandshakeTimeoutMs;
  /** Built contexts by hostname and key authorization; a Map keeps insertion order, so the first is the oldest. */
  const contexts = new Map<string, Promise<SecureContext>>();
  const sockets = new Set<Socket>();

  const contextFor = (hostname: string, keyAuthorization: string): Promise<SecureContext> => {
    const id = `${hostname}\n${keyAuthorization}`;
    let ctx = contexts.get(id);
    if (ctx === undefined) {
      ctx = createValidationCertificate(hostname, keyAuthorization).then((c) => createSecureContext({ cert: c.certPem, key: c.keyPem, minVersion: 'TLSv1.2' }));
      ctx.catch(() => contexts.delete(id));
      contexts.set(id, ctx);
      while (contexts.size > cacheMax) contexts.delete(contexts.keys().next().value as string);
    }
    return ctx;
  };

  const count = (result: TlsAlpnResult): void => deps.onResult?.(result);
  /** Closes without a TLS answer, and says why at debug level (a scanner is not worth a warning). */
  const refuse = (socket: Socket, result: TlsAlpnResult, why: string, serverName?: string): void => {
    count(result);
    deps.logger.debug({ why, hostname: serverName ?? null }, 'acme tls-alpn-01: connection refused');
    socket.destroy();
  };

  const answer = async (socket: Socket, hello: Buffer): Promise<void> => {
    const parsed = parseClientHello(hello);
    if (parsed.kind !== 'ok') return refuse(socket, 'not_tls', parsed.kind === 'invalid' ? parsed.message : 'ClientHello incomplete');
    const { serverName, alpn } = parsed.hello;
    // RFC 8737 §3: the CA offers acme-tls/1; a client that does not is not validating.
    if (!alpn.includes(ACME_TLS_ALPN_PROTOCOL)) return refuse(socket, 'no_acme_tls', `ALPN ${JSON.stringify(alpn)} does not offer ${ACME_TLS_ALPN_PROTOCOL}`, serverName);
    if (serverName === undefined) return refuse(socket, 'no_sni', 'no SNI');
    const keyAuthorization = await deps.keyAuthorization(serverName);
    if (keyAuthorization === undefined) return refuse(socket, 'no_challenge', 'no TLS-ALPN-01 challenge pending for this hostname', serverName);
    const secureContext = await contextFor(serverName, keyAuthorization);
    if (socket.destroyed) return;
    const tls = new TLSSocket(replaying(socket, hello), { isServer: true, secureContext, ALPNProtocols: [ACME_TLS_ALPN_PROTOCOL] });
    let secured = false;
    tls.on('error', (err) => {
      if (!secured) count('failed');
      secured = true;
      deps.logger.debug({ hostname: serverName, message: err.message }, 'acme tls-alpn-01: handshake failed');
    });
    // A client gone before the handshake ended (no error on our side) is a failed answer too.
    tls.once('close', () => {
      if (!secured) count('failed');
      secured = true;
    });
    tls.once('secure', () => {
      secured = true;
      count('answered');
      deps.logger.info({ hostname: serverName }, 'acme tls-alpn-01: validation certificate presented');
      // RFC 8737 §3: the validation is the handshake; nothing is exchanged after it.
      tls.end();
    });
  };

  const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(timeoutMs, () => socket.destroy());
    let hello = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      hello = Buffer.concat([hello, chunk]);
      const parsed = parseClientHello(hello);
      if (parsed.kind === 'incomplete' && hello.length < MAX_HELLO_BYTES) return;
      socket.off('data', onData);
      socket.pause();
      answer(socket, hello).catch((err: unknown) => {
        count('failed');
        deps.logger.warn({ message: (err as Error).message }, 'acme tls-alpn-01: could not answer');
        socket.destroy();
      });
    };
    socket.on('data', onData);
    socket.resume();
  });

  return {
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address();
          resolve(typeof address === 'object' && address !== null ? address.port : port);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        contexts.clear();
        if (!server.listening) return resolve();
        server.close(() => resolve());
      }),
  };
}
