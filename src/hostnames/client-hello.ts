/**
 * Reads the server name (SNI, RFC 6066 §3) and the offered application protocols
 * (ALPN, RFC 7301 §3.1) from a TLS ClientHello before any TLS answer, so the
 * TLS-ALPN-01 responder can refuse a connection that is not a CA's validation
 * without presenting anything. Only the first handshake record is read: a
 * ClientHello spread over several records is refused (`incomplete` never turns
 * into a result past `maxBytes`).
 */

/** What a ClientHello offered. */
export interface ClientHelloInfo {
  /** The host_name entry of server_name, lower-cased; undefined when absent. */
  readonly serverName: string | undefined;
  /** Protocol names of application_layer_protocol_negotiation, in the client's order; empty when absent. */
  readonly alpn: readonly string[];
}

export type ClientHelloResult =
  | { readonly kind: 'ok'; readonly hello: ClientHelloInfo }
  /** More bytes are needed. */
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly message: string };

const HANDSHAKE = 22;
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;

/** Parses the first TLS record of `data` as a ClientHello. */
export function parseClientHello(data: Buffer): ClientHelloResult {
  if (data.length < 5) return { kind: 'incomplete' };
  if (data[0] !== HANDSHAKE) return { kind: 'invalid', message: 'not a TLS handshake record' };
  const recordLength = data.readUInt16BE(3);
  if (data.length < 5 + recordLength) return { kind: 'incomplete' };
  const body = data.subarray(5, 5 + recordLength);
  if (body.length < 4 || body[0] !== CLIENT_HELLO) return { kind: 'invalid', message: 'not a ClientHello' };
  const helloLength = body.readUIntBE(1, 3);
  if (body.length < 4 + helloLength) return { kind: 'invalid', message: 'a ClientHello spread over several records' };
  const hello = body.subarray(4, 4 + helloLength);
  try {
    let at = 2 + 32; // legacy_version, random
    at += 1 + byte(hello, at); // legacy_session_id
    at += 2 + hello.readUInt16BE(at); // cipher_suites
    at += 1 + byte(hello, at); // legacy_compression_methods
    if (at === hello.length) return { kind: 'ok', hello: { serverName: undefined, alpn: [] } };
    const extensionsEnd = at + 2 + hello.readUInt16BE(at);
    if (extensionsEnd > hello.length) return { kind: 'invalid', message: 'extensions overrun the ClientHello' };
    at += 2;
    let serverName: string | undefined;
    let alpn: string[] = [];
    while (at < extensionsEnd) {
      const type = hello.readUInt16BE(at);
      const length = hello.readUInt16BE(at + 2);
      const ext = hello.subarray(at + 4, at + 4 + length);
      if (ext.length !== length) return { kind: 'invalid', message: 'an extension overruns the ClientHello' };
      if (type === EXT_SERVER_NAME) serverName = readServerName(ext);
      else if (type === EXT_ALPN) alpn = readAlpn(ext);
      at += 4 + length;
    }
    return { kind: 'ok', hello: { serverName, alpn } };
  } catch (err) {
    return { kind: 'invalid', message: `malformed ClientHello: ${(err as Error).message}` };
  }
}

function byte(b: Buffer, at: number): number {
  const v = b[at];
  if (v === undefined) throw new RangeError('truncated');
  return v;
}

/** ServerNameList: the host_name (type 0) entry. */
function readServerName(ext: Buffer): string | undefined {
  const end = 2 + ext.readUInt16BE(0);
  let at = 2;
  while (at < end) {
    const type = byte(ext, at);
    const length = ext.readUInt16BE(at + 1);
    const name = ext.subarray(at + 3, at + 3 + length);
    if (name.length !== length) throw new RangeError('server name overruns its extension');
    if (type === 0) return name.toString('latin1').toLowerCase();
    at += 3 + length;
  }
  return undefined;
}

/** ProtocolNameList. */
function readAlpn(ext: Buffer): string[] {
  const end = 2 + ext.readUInt16BE(0);
  const names: string[] = [];
  let at = 2;
  while (at < end) {
    const length = byte(ext, at);
    const name = ext.subarray(at + 1, at + 1 + length);
    if (name.length !== length) throw new RangeError('protocol name overruns its extension');
    names.push(name.toString('latin1'));
    at += 1 + length;
  }
  return names;
}
