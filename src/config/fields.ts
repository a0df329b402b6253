/**
 * Readers of field shapes that several sections share (apps and SaaS apps:
 * client secrets, policies, launcher labels and logos, required strings and
 * string lists). Every problem is reported at its file:line:column through
 * the {@link NodeReader}.
 */
import { isScalar, type Node } from 'yaml';
import type { Entry, NodeReader, Sourced } from './node-reader.js';

/** Where a client secret comes from; read in {@link resolveIdentity}. */
export interface RawSecret {
  readonly kind: 'env' | 'file';
  /** The variable name or the path as written; never the secret. */
  readonly ref: string;
  readonly node: Node | null;
  readonly field: string;
}

/** The `policies` list of an app or SaaS app: its node (to locate compiler issues) and its plain value. */
export interface RawPolicies {
  readonly node: Node | null;
  readonly field: string;
  readonly items: readonly unknown[];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * Exactly one of `client_secret_env` / `client_secret_file`. Values are never
 * echoed in messages: people paste the secret itself into these fields.
 */
export function readSecret(m: ReadonlyMap<string, Entry>, node: Node | null, field: string, reader: NodeReader): RawSecret | undefined {
  const env = m.get('client_secret_env');
  const file = m.get('client_secret_file');
  if (env && file) {
    reader.issue(file.key, `${field}.client_secret_file`, 'give either client_secret_env or client_secret_file, not both');
    return undefined;
  }
  if (!env && !file) {
    reader.issue(node, `${field}.client_secret_env`, 'a client secret is required: set client_secret_env (the name of an environment variable holding it) or client_secret_file (a file holding it)');
    return undefined;
  }
  const entry = (env ?? file) as Entry;
  const kind = env ? 'env' : 'file';
  const f = `${field}.client_secret_${kind}`;
  const n = reader.resolve(entry.value);
  const text = isScalar(n) && typeof n.value === 'string' ? n.value.trim() : '';
  if (kind === 'env' && !ENV_NAME.test(text)) {
    reader.issue(entry.value, f, "client_secret_env must be the name of an environment variable (letters, digits and '_', not starting with a digit), not the secret itself");
    return undefined;
  }
  if (text === '') {
    reader.issue(entry.value, f, 'client_secret_file must be the path of a file holding the client secret');
    return undefined;
  }
  return { kind, ref: text, node: entry.value, field: f };
}

/** The required `policies` list of an app or SaaS app, as plain data for the policy compiler. */
export function readPolicies(m: ReadonlyMap<string, Entry>, node: Node | null, field: string, reader: NodeReader, warnings: string[], label: string): RawPolicies | undefined {
  const policiesEntry = m.get('policies');
  const pf = `${field}.policies`;
  if (!policiesEntry) {
    reader.issue(node, pf, 'policies is required: without a policy nobody is let in; write at least one allow policy');
    return undefined;
  }
  if (!reader.list(policiesEntry.value, pf)) return undefined;
  const plain = reader.toPlain(policiesEntry.value, pf);
  if (!plain.ok || !Array.isArray(plain.value)) return undefined;
  if (plain.value.length === 0) warnings.push(`${label}: policies is empty, so every request to it is denied`);
  return { node: policiesEntry.value, field: pf, items: plain.value as unknown[] };
}

/** Longest tile label; longer text breaks the launcher grid and is almost certainly a paste mistake. */
const DISPLAY_NAME_MAX = 80;
/** A data: logo is inlined into every launcher page; 64 KiB keeps that page light. */
const LOGO_MAX_CHARS = 64 * 1024;
/** Raster or vector images a browser shows in `<img>`; SVG is safe there (no script runs in `<img>`). */
const LOGO_DATA_URI = /^data:image\/(?:png|jpeg|gif|webp|svg\+xml)(?:;base64)?,[A-Za-z0-9+/=%._~!$&'()*,;:@-]*$/;

/** A launcher label: plain text, no control characters. */
export function readDisplayName(entry: Entry, field: string, reader: NodeReader): string | undefined {
  const text = reader.string(entry.value, field)?.trim();
  if (text === undefined) return undefined;
  // Control characters (including newlines) would be invisible or break the tile's layout.
  if (text.length > DISPLAY_NAME_MAX || /\p{Cc}/u.test(text)) {
    reader.issue(entry.value, field, `display_name must be one line of at most ${DISPLAY_NAME_MAX} characters`);
    return undefined;
  }
  return text;
}

/** A launcher logo: an https URL, or a `data:image/...` URI of bounded size. */
export function readLogo(entry: Entry, field: string, reader: NodeReader): string | undefined {
  const text = reader.string(entry.value, field)?.trim();
  if (text === undefined) return undefined;
  if (text.startsWith('data:')) {
    if (text.length > LOGO_MAX_CHARS) reader.issue(entry.value, field, `logo data: URI is ${text.length.toLocaleString('en-US')} characters; at most ${LOGO_MAX_CHARS.toLocaleString('en-US')} are accepted (host larger logos and give their https URL)`);
    else if (!LOGO_DATA_URI.test(text)) reader.issue(entry.value, field, 'logo data: URI must be an image (data:image/png, jpeg, gif, webp or svg+xml)');
    else return text;
    return undefined;
  }
  // https only: the launcher is served over https and must not load mixed content or leak who looks at it over plain http.
  if (!URL.canParse(text) || new URL(text).protocol !== 'https:') {
    reader.issue(entry.value, field, `logo must be an https URL or a data:image/... URI; got '${text.slice(0, 100)}'`);
    return undefined;
  }
  return text;
}

/** A required string field; missing is reported at the enclosing mapping. */
export function required(m: ReadonlyMap<string, Entry>, key: string, node: Node | null, field: string, reader: NodeReader, what: string): Sourced<string> | undefined {
  const f = `${field}.${key}`;
  const e = m.get(key);
  if (!e) {
    reader.issue(node, f, `${key} is required: ${what}`);
    return undefined;
  }
  const text = reader.string(e.value, f);
  return text === undefined ? undefined : { value: text.trim(), node: e.value, field: f };
}

/** A list of non-empty strings, each with its node and indexed field. */
export function stringList(entry: Entry, field: string, reader: NodeReader, opts: { nonEmpty?: boolean } = {}): Array<Sourced<string>> | undefined {
  const items = reader.list(entry.value, field, opts);
  if (!items) return undefined;
  const out: Array<Sourced<string>> = [];
  items.forEach((item, j) => {
    const f = `${field}[${j}]`;
    const text = reader.string(item, f);
    if (text !== undefined) out.push({ value: text.trim(), node: item, field: f });
  });
  return out;
}
