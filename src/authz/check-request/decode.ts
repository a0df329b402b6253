import type { RepeatedStrings } from '../repeated-strings.js';
import type { CheckRequestMessage } from './message.js';
import { WIRE_LEN, WireReader } from './wire-reader.js';

// Decoding CheckRequest from the wire. protobufjs would build an object for
// every field of the request (destination, metadata, timestamps…) through
// generic code; bouncer reads a handful, so this decoder walks the protobuf
// wire format (see https://protobuf.dev/programming-guides/encoding/) and
// keeps only those, skipping the rest unread. Field numbers are those of
// envoy/service/auth/v3/{external_auth,attribute_context}.proto,
// envoy/config/core/v3/{address,base}.proto. Where a field repeats, the last one
// wins, as with protobufjs; map entries accumulate. Malformed input throws,
// which the Check handler answers with INTERNAL, and Envoy fails closed on.

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
