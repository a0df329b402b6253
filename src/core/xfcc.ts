import { XfccError } from './errors.js';

/**
 * One element of an `x-forwarded-client-cert` header: what one proxy hop knew
 * about the client certificate it saw. Field names follow Envoy's keys.
 */
export interface XfccElement {
  /** `By`: URI SANs of the proxy that added this element (repeatable). */
  readonly by: readonly string[];
  /** `Hash`: lowercase hex SHA-256 of the client certificate's DER. */
  readonly hash: string | undefined;
  /** `Cert`: the client certificate, URL-decoded PEM. */
  readonly cert: string | undefined;
  /** `Chain`: the client's chain (leaf included, as Envoy sends it), URL-decoded PEM. */
  readonly chain: string | undefined;
  /** `Subject`: the client certificate's subject DN, unescaped. */
  readonly subject: string | undefined;
  /** `URI`: URI SANs of the client certificate (repeatable; Envoy writes `URI=` when there is none). */
  readonly uri: readonly string[];
  /** `DNS`: DNS SANs of the client certificate (repeatable). */
  readonly dns: readonly string[];
}

export interface XfccLimits {
  /** Longest header value accepted, in characters. */
  readonly maxLength: number;
  /** Most elements parsed; the deployment's own tighter bound is applied by the caller. */
  readonly maxElements: number;
  /** Most key=value pairs in one element. */
  readonly maxPairs: number;
}

/** Envoy's default request header limit is 60 KiB, so a longer XFCC cannot come from it. */
export const DEFAULT_XFCC_LIMITS: XfccLimits = { maxLength: 64 * 1024, maxElements: 32, maxPairs: 64 };

type Key = 'by' | 'hash' | 'cert' | 'chain' | 'subject' | 'uri' | 'dns';

// Keys are matched case-insensitively: Envoy writes them capitalised, other
// proxies that emit the same header are not always as careful.
const KEYS: ReadonlyMap<string, Key> = new Map([
  ['by', 'by'],
  ['hash', 'hash'],
  ['cert', 'cert'],
  ['chain', 'chain'],
  ['subject', 'subject'],
  ['uri', 'uri'],
  ['dns', 'dns'],
]);
const REPEATABLE: ReadonlySet<Key> = new Set(['by', 'uri', 'dns']);
/** Keys whose value must not be empty: an empty hash or certificate describes nothing. */
const NON_EMPTY: ReadonlySet<Key> = new Set(['hash', 'cert', 'chain']);

interface Draft {
  by: string[];
  hash: string | undefined;
  cert: string | undefined;
  chain: string | undefined;
  subject: string | undefined;
  uri: string[];
  dns: string[];
}

const isOws = (c: string | undefined): boolean => c === ' ' || c === '\t';
const isAlpha = (code: number): boolean => (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
const BACKSLASH = 0x5c;
/** Control characters other than HTAB (RFC 9110 §5.5). */
const CONTROL_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;
/** Where an unquoted value ends (`,` `;` OWS) or turns invalid (`"` `=`). */
const UNQUOTED_END = /[,; \t"=]/g;
/** Anything but printable ASCII and line breaks, which PEM never contains. */
const NON_PEM = /[^\x20-\x7e\n\r\t]/;

/**
 * Parses an `x-forwarded-client-cert` value into its elements, outermost hop
 * first. The grammar is Envoy's: elements separated by `,`, key=value pairs by
 * `;`, values optionally double-quoted so they can hold `,;=`, with `\"` for a
 * quote inside quotes. `Cert` and `Chain` are URL-decoded.
 *
 * Anything that does not fit the grammar throws {@link XfccError}
 * (`ERR_XFCC_MALFORMED`) with the offset of the problem; the caller turns that
 * into the `xfcc_malformed` denial. Being strict here is deliberate: a header we
 * cannot read exactly is a header we cannot reason about.
 *
 * @example
 * parseXfcc('Hash=ab…;Subject="CN=dev, O=Acme";URI=spiffe://acme/dev;DNS=a;DNS=b')
 * // → [{ hash: 'ab…', subject: 'CN=dev, O=Acme', uri: ['spiffe://acme/dev'], dns: ['a', 'b'], by: [], … }]
 */
export function parseXfcc(value: string, limits: XfccLimits = DEFAULT_XFCC_LIMITS): XfccElement[] {
  if (value.length > limits.maxLength) {
    throw new XfccError(`header is ${value.length} characters long; the limit is ${limits.maxLength}`, limits.maxLength);
  }
  // RFC 9110 field values never carry control characters; HTAB is the one exception.
  // One native regex scan instead of a JS loop: the header is several KB on every request.
  const ctrl = CONTROL_CHAR.exec(value);
  if (ctrl) {
    const code = value.charCodeAt(ctrl.index);
    throw new XfccError(`control character 0x${code.toString(16).padStart(2, '0')}`, ctrl.index);
  }
  if (value.trim() === '') throw new XfccError('empty header', 0);

  const elements: XfccElement[] = [];
  let draft = newDraft();
  let pairs = 0;
  let pos = 0;
  const n = value.length;

  const skipOws = (): void => {
    while (isOws(value[pos])) pos++;
  };

  for (;;) {
    skipOws();
    // key
    const keyStart = pos;
    while (pos < n && isAlpha(value.charCodeAt(pos))) pos++;
    const rawKey = value.slice(keyStart, pos);
    if (rawKey === '') {
      const c = value[pos];
      throw new XfccError(c === undefined ? 'expected a key, found end of header' : `expected a key, found ${JSON.stringify(c)}`, pos);
    }
    const key = KEYS.get(rawKey.toLowerCase());
    if (!key) throw new XfccError(`unknown key ${JSON.stringify(rawKey)}`, keyStart);
    if (value[pos] !== '=') throw new XfccError(`key ${rawKey} is not followed by '='`, pos);
    pos++;

    // value
    let raw: string;
    const valueStart = pos;
    if (value[pos] === '"') {
      pos++;
      // Jump from quote to quote rather than copying character by character: Cert
      // and Chain are kilobytes long. A quote right after a backslash that is
      // still unread is the escape `\"`; any other backslash is literal.
      let out = '';
      let segment = pos;
      for (;;) {
        const q = value.indexOf('"', pos);
        if (q < 0) throw new XfccError(`unterminated quoted value for ${rawKey}`, valueStart);
        if (q > pos && value.charCodeAt(q - 1) === BACKSLASH) {
          out += value.slice(segment, q - 1) + '"';
          pos = q + 1;
          segment = pos;
          continue;
        }
        out += value.slice(segment, q);
        pos = q + 1;
        break;
      }
      raw = out;
    } else {
      UNQUOTED_END.lastIndex = pos;
      const end = UNQUOTED_END.exec(value);
      pos = end ? end.index : n;
      const c = end?.[0];
      if (c === '"' || c === '=') throw new XfccError(`unquoted value for ${rawKey} contains ${JSON.stringify(c)}`, pos);
      raw = value.slice(valueStart, pos);
    }
    if (++pairs > limits.maxPairs) throw new XfccError(`more than ${limits.maxPairs} pairs in one element`, keyStart);
    setField(draft, key, rawKey, raw, valueStart);

    // separator
    skipOws();
    if (pos >= n) {
      elements.push(freeze(draft));
      break;
    }
    const sep = value[pos];
    if (sep === ';') {
      pos++;
      continue;
    }
    if (sep === ',') {
      elements.push(freeze(draft));
      if (elements.length >= limits.maxElements) {
        throw new XfccError(`more than ${limits.maxElements} elements`, pos);
      }
      draft = newDraft();
      pairs = 0;
      pos++;
      continue;
    }
    throw new XfccError(`expected ';' or ',' after the value of ${rawKey}, found ${JSON.stringify(sep)}`, pos);
  }
  return elements;
}

function newDraft(): Draft {
  return { by: [], hash: undefined, cert: undefined, chain: undefined, subject: undefined, uri: [], dns: [] };
}

function freeze(d: Draft): XfccElement {
  return Object.freeze({ ...d, by: Object.freeze([...d.by]), uri: Object.freeze([...d.uri]), dns: Object.freeze([...d.dns]) }) as XfccElement;
}

function setField(d: Draft, key: Key, rawKey: string, raw: string, offset: number): void {
  if (NON_EMPTY.has(key) && raw === '') throw new XfccError(`empty value for ${rawKey}`, offset);
  if (!REPEATABLE.has(key) && d[key as 'hash' | 'cert' | 'chain' | 'subject'] !== undefined) {
    throw new XfccError(`${rawKey} appears twice in one element`, offset);
  }
  switch (key) {
    case 'hash':
      if (!/^[0-9A-Fa-f]{64}$/.test(raw)) throw new XfccError('Hash is not a hex SHA-256 digest', offset);
      d.hash = raw.toLowerCase();
      return;
    case 'cert':
      d.cert = urlDecode(raw, rawKey, offset);
      return;
    case 'chain':
      d.chain = urlDecode(raw, rawKey, offset);
      return;
    case 'subject':
      d.subject = raw;
      return;
    case 'by':
      // Envoy writes an empty By/URI/DNS when the certificate has no such SAN.
      if (raw !== '') d.by.push(raw);
      return;
    case 'uri':
      if (raw !== '') d.uri.push(raw);
      return;
    case 'dns':
      if (raw !== '') d.dns.push(raw);
      return;
  }
}

function urlDecode(raw: string, rawKey: string, offset: number): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new XfccError(`${rawKey} is not valid URL encoding`, offset);
  }
  // PEM is printable ASCII plus line breaks; anything else was smuggled in.
  const bad = NON_PEM.exec(decoded);
  if (bad) throw new XfccError(`${rawKey} decodes to a non-PEM character 0x${decoded.charCodeAt(bad.index).toString(16)}`, offset);
  return decoded;
}
