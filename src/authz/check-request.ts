import { randomUUID } from 'node:crypto';
import { isSafeRequestId } from '../core/request-id.js';
import type { SessionState } from '../core/app.js';
import type { CheckInput } from '../core/decision.js';
import { decodeText, type RepeatedStrings } from './repeated-strings.js';

/**
 * The subset of envoy.service.auth.v3.CheckRequest bouncer reads, as
 * @grpc/proto-loader decodes it (keepCase, oneofs). Everything is optional
 * because Envoy omits what it does not know.
 */
export interface CheckRequestMessage {
  attributes?: {
    source?: {
      address?: { socket_address?: { address?: string } };
      /** URL-encoded PEM of the peer certificate (include_peer_certificate). */
      certificate?: string;
    };
    request?: {
      http?: {
        id?: string;
        method?: string;
        path?: string;
        host?: string;
        /**
         * From `headers` (a map, repeated names merged by Envoy), or from
         * `header_map` (Envoy's `encode_raw_headers: true`), merged here the
         * same way: see {@link readHeaderValue}.
         */
        headers?: Record<string, string>;
      };
    };
    /** Present with include_tls_session. */
    tls_session?: { sni?: string };
  };
}

const EMPTY_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

// A request id is echoed in headers, bodies and logs; anything unusual gets a fresh one.
function pickRequestId(...candidates: Array<string | undefined>): string {
  for (const c of candidates) if (isSafeRequestId(c)) return c;
  return randomUUID();
}

function countryFrom(value: string | undefined): string | undefined {
  return value !== undefined && /^[A-Za-z]{2}$/.test(value) ? value.toUpperCase() : undefined;
}

/** Maps Envoy's CheckRequest to the plain input of the decision core. */
export interface CheckInputOptions {
  /** Header a trusted edge (a CDN) sets with the client's country; unset means none is trusted. */
  readonly countryHeader?: string | undefined;
}

/** Header names for service tokens; like every `x-bouncer-*` header they never reach the upstream. */
export const SERVICE_TOKEN_HEADERS = { clientId: 'x-bouncer-client-id', clientSecret: 'x-bouncer-client-secret' } as const;

export function toCheckInput(
  msg: CheckRequestMessage,
  options: CheckInputOptions = {},
): { input: CheckInput; headers: Readonly<Record<string, string>>; cookie: string | undefined } {
  const attrs = msg.attributes ?? {};
  const http = attrs.request?.http ?? {};
  const headers = http.headers ?? EMPTY_HEADERS;
  const cert = attrs.source?.certificate;
  const input: CheckInput = {
    requestId: pickRequestId(headers['x-request-id'], http.id),
    authority: headers[':authority'] ?? http.host ?? headers['host'] ?? '',
    sni: attrs.tls_session?.sni,
    method: headers[':method'] ?? http.method ?? '',
    path: headers[':path'] ?? http.path ?? '',
    peerCertificate: undefined,
    peerCertificateEncoded: cert || undefined,
    xfcc: headers['x-forwarded-client-cert'],
    sourceAddress: attrs.source?.address?.socket_address?.address,
    accept: headers['accept'],
    serviceClientId: headers[SERVICE_TOKEN_HEADERS.clientId],
    serviceClientSecret: headers[SERVICE_TOKEN_HEADERS.clientSecret],
    country: countryFrom(options.countryHeader !== undefined ? headers[options.countryHeader.toLowerCase()] : undefined),
  };
  return { input, headers, cookie: headers['cookie'] };
}

/**
 * `input` with the session the gate read, as `{ ...input, session }` would give.
 * Every field is listed because the spread cost about a microsecond per check;
 * a unit test holds this list to the fields {@link toCheckInput} sets.
 */
export function withSession(input: CheckInput, session: SessionState | undefined): CheckInput {
  return {
    requestId: input.requestId,
    authority: input.authority,
    sni: input.sni,
    method: input.method,
    path: input.path,
    peerCertificate: input.peerCertificate,
    peerCertificateEncoded: input.peerCertificateEncoded,
    xfcc: input.xfcc,
    sourceAddress: input.sourceAddress,
    accept: input.accept,
    serviceClientId: input.serviceClientId,
    serviceClientSecret: input.serviceClientSecret,
    country: input.country,
    session,
  };
}

// ---------------------------------------------------------------------------
// Wire decoding. protobufjs would build an object for every field of the
// request (destination, metadata, timestamps…) through generic code; bouncer
// reads a handful, so this decoder walks the protobuf wire format (see
// https://protobuf.dev/programming-guides/encoding/) and keeps only those,
// skipping the rest unread. Field numbers are those of
// envoy/service/auth/v3/{external_auth,attribute_context}.proto,
// envoy/config/core/v3/{address,base}.proto. Where a field repeats, the last one
// wins, as with protobufjs; map entries accumulate. Malformed input throws,
// which the Check handler answers with INTERNAL, and Envoy fails closed on.

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/**
 * Header names Envoy sends on most checks. A dozen names per request were each
 * decoded into a new string and then looked up in V8's string table when
 * stored as a property; a name whose bytes match one of these exactly is the
 * literal instead, already internalized.
 */
const KNOWN_HEADER_NAMES = [
  ':authority',
  ':method',
  ':path',
  ':scheme',
  'accept',
  'accept-encoding',
  'accept-language',
  'authorization',
  'content-length',
  'content-type',
  'cookie',
  'origin',
  'referer',
  'user-agent',
  'x-envoy-external-address',
  'x-envoy-internal',
  'x-forwarded-client-cert',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-request-id',
] as const;

/** The known names by byte length, each with its bytes. */
const KNOWN_BY_LENGTH: ReadonlyMap<number, ReadonlyArray<{ readonly name: string; readonly bytes: Buffer }>> = (() => {
  const byLength = new Map<number, Array<{ name: string; bytes: Buffer }>>();
  for (const name of KNOWN_HEADER_NAMES) {
    const list = byLength.get(name.length) ?? [];
    list.push({ name, bytes: Buffer.from(name, 'latin1') });
    byLength.set(name.length, list);
  }
  return byLength;
})();

/** The known header name whose bytes are exactly `buf[start, end)`, if any. */
export function knownHeaderName(buf: Buffer, start: number, end: number): string | undefined {
  const candidates = KNOWN_BY_LENGTH.get(end - start);
  if (candidates === undefined) return undefined;
  for (const { name, bytes } of candidates) {
    let i = 0;
    while (i < bytes.length && buf[start + i] === bytes[i]) i++;
    if (i === bytes.length) return name;
  }
  return undefined;
}

/** A cursor over one message's bytes; `end` bounds the current (sub)message. */
class WireReader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    public end: number,
    private readonly strings: RepeatedStrings | undefined,
  ) {
    this.pos = 0;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++] as number;
      // Tags and lengths fit in 32 bits; higher bytes of longer varints are consumed and ignored.
      if (shift < 32) result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
      if (shift >= 70) throw new Error('varint longer than 10 bytes');
    }
  }

  /** Reads a length prefix and returns where that field ends. */
  lengthEnd(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.end) throw new Error('length-delimited field runs past its message');
    return end;
  }

  string(): string {
    const end = this.lengthEnd();
    const s = this.strings ? this.strings.decode(this.buf, this.pos, end) : decodeText(this.buf, this.pos, end);
    this.pos = end;
    return s;
  }

  /** A header name: one of {@link KNOWN_HEADER_NAMES} without decoding when the bytes match it exactly, else as {@link string}. */
  headerName(): string {
    const end = this.lengthEnd();
    const known = knownHeaderName(this.buf, this.pos, end);
    const s = known ?? this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return s;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.pos += 8;
        break;
      case WIRE_LEN:
        this.pos = this.lengthEnd();
        return;
      case WIRE_FIXED32:
        this.pos += 4;
        break;
      default:
        // Groups (3, 4) are proto2-only and never sent by Envoy.
        throw new Error(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new Error('fixed-width field runs past its message');
  }

  /** Runs `field` for each field of the submessage that starts here, then returns to the parent. */
  message(field: (num: number, wireType: number) => void): void {
    const end = this.lengthEnd();
    const parentEnd = this.end;
    this.end = end;
    while (this.pos < end) {
      const tag = this.varint();
      field(tag >>> 3, tag & 7);
    }
    this.end = parentEnd;
  }
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };
type Attributes = NonNullable<CheckRequestMessage['attributes']>;
type Source = NonNullable<Attributes['source']>;
type Http = NonNullable<NonNullable<Attributes['request']>['http']>;

/**
 * One `map<string, string>` entry. Written out rather than through
 * {@link WireReader.message}: a request carries dozens of headers, and a
 * closure per entry was a measurable share of what a check allocates.
 */
function readMapEntry(r: WireReader, into: Record<string, string>): void {
  const end = r.lengthEnd();
  const parentEnd = r.end;
  r.end = end;
  let key = '';
  let value = '';
  while (r.pos < end) {
    const tag = r.varint();
    const num = tag >>> 3;
    const wt = tag & 7;
    if (num === 1 && wt === WIRE_LEN) key = r.headerName();
    else if (num === 2 && wt === WIRE_LEN) value = r.string();
    else r.skip(wt);
  }
  r.end = parentEnd;
  into[key] = value;
}

/**
 * One `config.core.v3.HeaderValue` of `header_map`: key (1), value (2) or
 * raw_value (3, the bytes Envoy saw, what `encode_raw_headers` sends). A name
 * that repeats is merged as Envoy merges it into the `headers` map (values
 * joined by `,`, cookies by `; `), so either encoding gives the same input.
 */
function readHeaderValue(r: WireReader, into: Record<string, string>): void {
  const end = r.lengthEnd();
  const parentEnd = r.end;
  r.end = end;
  let key = '';
  let value: string | undefined;
  let raw: string | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    const num = tag >>> 3;
    const wt = tag & 7;
    if (num === 1 && wt === WIRE_LEN) key = r.headerName();
    else if (num === 2 && wt === WIRE_LEN) value = r.string();
    else if (num === 3 && wt === WIRE_LEN) raw = r.string();
    else r.skip(wt);
  }
  r.end = parentEnd;
  if (key === '') throw new Error('a header_map entry has no key');
  const text = raw ?? value ?? '';
  const had = into[key];
  into[key] = had === undefined ? text : `${had}${key === 'cookie' ? '; ' : ','}${text}`;
}

function readSource(r: WireReader): Source {
  const source: Writable<Source> = {};
  r.message((num, wt) => {
    if (num === 1 && wt === WIRE_LEN) {
      // Peer.address (config.core.v3.Address) → socket_address (1) → address (2).
      let address: string | undefined;
      let socket = false;
      r.message((n1, w1) => {
        if (n1 === 1 && w1 === WIRE_LEN) {
          socket = true;
          address = undefined;
          r.message((n2, w2) => {
            if (n2 === 2 && w2 === WIRE_LEN) address = r.string();
            else r.skip(w2);
          });
        } else r.skip(w1);
      });
      source.address = socket ? { socket_address: address === undefined ? {} : { address } } : {};
    } else if (num === 5 && wt === WIRE_LEN) source.certificate = r.string();
    else r.skip(wt);
  });
  return source;
}

function readHttp(r: WireReader): Http {
  const http: Writable<Http> = {};
  // `headers` and `header_map` are one oneof in all but name: never both.
  let from: 'headers' | 'header_map' | undefined;
  const headersFrom = (field: 'headers' | 'header_map'): Record<string, string> => {
    if (from !== undefined && from !== field) throw new Error('the request carries both headers and header_map; Envoy sends one or the other');
    from = field;
    // A null-prototype object: a header named like an Object.prototype member
    // (`constructor`, `__proto__`) is then just a header.
    return (http.headers ??= Object.create(null) as Record<string, string>);
  };
  r.message((num, wt) => {
    if (wt !== WIRE_LEN) return r.skip(wt);
    switch (num) {
      case 1:
        http.id = r.string();
        return;
      case 2:
        http.method = r.string();
        return;
      case 3:
        readMapEntry(r, headersFrom('headers'));
        return;
      case 13: {
        // header_map (config.core.v3.HeaderMap) → headers (1), repeated HeaderValue.
        const into = headersFrom('header_map');
        r.message((n1, w1) => {
          if (n1 === 1 && w1 === WIRE_LEN) readHeaderValue(r, into);
          else r.skip(w1);
        });
        return;
      }
      case 4:
        http.path = r.string();
        return;
      case 5:
        http.host = r.string();
        return;
      default:
        r.skip(wt);
    }
  });
  return http;
}

/**
 * Decodes an `envoy.service.auth.v3.CheckRequest` into the subset bouncer reads
 * ({@link CheckRequestMessage}). Used as the Check method's request
 * deserializer. With `strings`, long values that repeat (certificates, XFCC,
 * the session cookie) come back as the string decoded last time.
 */
export function decodeCheckRequest(buf: Buffer, strings?: RepeatedStrings): CheckRequestMessage {
  const r = new WireReader(buf, buf.length, strings);
  const msg: Writable<CheckRequestMessage> = {};
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag >>> 3 !== 1 || (tag & 7) !== WIRE_LEN) {
      r.skip(tag & 7);
      continue;
    }
    // CheckRequest.attributes (AttributeContext)
    const attrs: Writable<Attributes> = {};
    r.message((num, wt) => {
      if (wt !== WIRE_LEN) return r.skip(wt);
      if (num === 1) attrs.source = readSource(r);
      else if (num === 4) {
        // AttributeContext.request (Request) → http (2)
        const request: Writable<NonNullable<Attributes['request']>> = {};
        r.message((n1, w1) => {
          if (n1 === 2 && w1 === WIRE_LEN) request.http = readHttp(r);
          else r.skip(w1);
        });
        attrs.request = request;
      } else if (num === 12) {
        // AttributeContext.tls_session (TLSSession) → sni (1)
        const tls: { sni?: string } = {};
        r.message((n1, w1) => {
          if (n1 === 1 && w1 === WIRE_LEN) tls.sni = r.string();
          else r.skip(w1);
        });
        attrs.tls_session = tls;
      } else r.skip(wt);
    });
    msg.attributes = attrs;
  }
  return msg;
}
