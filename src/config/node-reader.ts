import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Scalar, type YAMLMap } from 'yaml';
import { didYouMean } from '../core/did-you-mean.js';
import type { ConfigIssue } from '../core/errors.js';
import { parseDuration } from './values.js';

/** Marks an alias that could not be resolved and was already reported, so it is not reported twice. */
const REPORTED = Symbol('reported');

/** Where an issue points: a YAML node (its first character), or nothing (the file as a whole). */
export type Anchor = Node | null | undefined;

/** A string value and the node it came from, so later checks can point at it. */
export interface Sourced<T> {
  readonly value: T;
  readonly node: Node | null;
  /** Dotted field of the value, such as `tenants[0].mtls.crl[1]`. */
  readonly field: string;
}

/** One `key: value` of a mapping, with both nodes kept for error positions. */
export interface Entry {
  readonly key: Scalar;
  /** Null for `key:` with nothing after it. */
  readonly value: Node | null;
}

/**
 * Reads typed values out of a parsed YAML document and records an issue, located
 * at the offending node, for everything that does not fit. Readers never throw:
 * one load reports every problem, not only the first.
 *
 * Aliases (`*name`) are resolved transparently; the config schema has a fixed
 * depth, so alias expansion cannot blow up.
 */
export class NodeReader {
  readonly issues: ConfigIssue[] = [];

  constructor(
    readonly file: string,
    private readonly lines: LineCounter,
    private readonly doc: Document,
  ) {}

  /** Records a problem at `anchor`'s line and column (1-based, as editors count). */
  issue(anchor: Anchor, field: string, message: string): void {
    this.issues.push({ file: this.file, ...this.position(anchor), field, message });
  }

  /** Records a problem at a character offset of the source (YAML parser errors carry offsets). */
  issueAtOffset(offset: number, field: string, message: string): void {
    this.issues.push({ file: this.file, ...this.lineAndColumn(offset), field, message });
  }

  /** 1-based line and column of a node's first character; empty when the node has no source. */
  position(anchor: Anchor): { line?: number; column?: number } {
    return this.lineAndColumn(anchor?.range?.[0]);
  }

  private lineAndColumn(offset: number | undefined): { line?: number; column?: number } {
    if (offset === undefined) return {};
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  /**
   * Follows an alias to its anchor. An unknown alias is reported here; the usual
   * cause is an unquoted wildcard hostname, which YAML reads as an alias.
   */
  private deref(node: Node | null, field: string): Node | null | typeof REPORTED {
    if (!isAlias(node)) return node;
    const target = node.resolve(this.doc);
    if (target === undefined) {
      const hint = node.source.startsWith('.') ? `; quote wildcard hostnames: "*${node.source}"` : '';
      this.issue(node, field, `unknown YAML alias '*${node.source}'${hint}`);
      return REPORTED;
    }
    return target;
  }

  /**
   * A mapping whose keys must all be in `allowed`. Unknown keys are reported at
   * the key, with the closest allowed key when it looks like a typo. Keys in
   * `reserved` get a message saying a later version will read them.
   */
  mapping(node: Node | null, field: string, allowed: readonly string[], reserved: readonly string[] = [], refused: RefusedKeys = {}): Map<string, Entry> | undefined {
    const n = this.deref(node, field);
    if (n === REPORTED) return undefined;
    if (!isMap(n)) {
      this.issue(n, field, `${leaf(field)} must be a mapping (key: value); got ${describe(n)}`);
      return undefined;
    }
    return this.entries(n, field, allowed, reserved, refused);
  }

  private entries(map: YAMLMap, field: string, allowed: readonly string[], reserved: readonly string[], refused: RefusedKeys): Map<string, Entry> {
    const out = new Map<string, Entry>();
    for (const pair of map.items) {
      const key = pair.key as Node | null;
      if (!isScalar(key) || typeof key.value !== 'string') {
        this.issue(key, field === '' ? '(root)' : field, `keys of ${field === '' ? 'the config' : leaf(field)} must be plain words; got ${describe(key)}`);
        continue;
      }
      const name = key.value;
      const refusal = Object.hasOwn(refused, name) ? refused[name] : undefined;
      if (refusal !== undefined) {
        this.issue(key, joinField(field, name), refusal);
      } else if (reserved.includes(name)) {
        this.issue(key, joinField(field, name), `'${name}' is reserved for a later version of bouncer and is not supported yet`);
      } else if (!allowed.includes(name)) {
        const hint = didYouMean(name, allowed);
        this.issue(key, joinField(field, name), `unknown field '${name}'${hint !== undefined ? ` (did you mean '${hint}'?)` : ''}; expected one of ${allowed.join(', ')}`);
      } else {
        // Duplicate keys were already reported by the YAML parser; the first one wins here.
        if (!out.has(name)) out.set(name, { key, value: (pair.value as Node | null) ?? null });
      }
    }
    return out;
  }

  /** A non-empty string scalar. */
  string(node: Node | null, field: string): string | undefined {
    const n = this.deref(node, field);
    if (n === REPORTED) return undefined;
    if (!isScalar(n) || typeof n.value !== 'string') {
      this.issue(n, field, `${leaf(field)} must be a string; got ${describe(n)}`);
      return undefined;
    }
    if (n.value.trim() === '') {
      this.issue(n, field, `${leaf(field)} must not be empty`);
      return undefined;
    }
    return n.value;
  }

  boolean(node: Node | null, field: string): boolean | undefined {
    const n = this.deref(node, field);
    if (n === REPORTED) return undefined;
    if (!isScalar(n) || typeof n.value !== 'boolean') {
      this.issue(n, field, `${leaf(field)} must be true or false; got ${describe(n)}`);
      return undefined;
    }
    return n.value;
  }

  /** A whole number within `[min, max]`. */
  integer(node: Node | null, field: string, min: number, max: number): number | undefined {
    const n = this.deref(node, field);
    if (n === REPORTED) return undefined;
    const range = `from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}`;
    if (!isScalar(n) || typeof n.value !== 'number' || !Number.isInteger(n.value)) {
      this.issue(n, field, `${leaf(field)} must be a whole number ${range}; got ${describe(n)}`);
      return undefined;
    }
    if (n.value < min || n.value > max) {
      this.issue(n, field, `${leaf(field)} must be a whole number ${range}; got ${n.value}`);
      return undefined;
    }
    return n.value;
  }

  /**
   * A duration: whole seconds, or units such as `8h`, `30m`, `90s`, `1d`, `1h30m`
   * (see {@link parseDuration}), within `[min, max]` seconds.
   */
  duration(node: Node | null, field: string, min: number, max: number): number | undefined {
    const n = this.deref(node, field);
    if (n === REPORTED) return undefined;
    if (!isScalar(n) || (typeof n.value !== 'string' && typeof n.value !== 'number')) {
      this.issue(n, field, `${leaf(field)} must be a duration such as 8h, 30m, 90s or 1d; got ${describe(n)}`);
      return undefined;
    }
    const parsed = parseDuration(n.value, min, max);
    if (!parsed.ok) {
      this.issue(n, field, parsed.message.startsWith('must') ? `${leaf(field)} ${parsed.message}` : parsed.message);
      return undefined;
    }
    return parsed.value;
  }

  /** Follows an alias without reporting anything (for walking a subtree that was already checked). */
  resolve(node: Node | null): Node | null {
    const n = isAlias(node) ? node.resolve(this.doc) : node;
    return n ?? null;
  }

  /**
   * The plain JavaScript value of a subtree, for code outside the config loader
   * that takes data rather than YAML nodes (the policy compiler). Aliases are
   * expanded with the `yaml` library's alias-count limit, so a billion-laughs
   * file fails here instead of eating memory; that failure is reported.
   */
  toPlain(node: Node | null, field: string): { ok: true; value: unknown } | { ok: false } {
    if (node === null) return { ok: true, value: null };
    try {
      return { ok: true, value: node.toJS(this.doc, { maxAliasCount: 100 }) as unknown };
    } catch (err) {
      this.issue(node, field, `${leaf(field)} cannot be read: ${(err as Error).message}`);
      return { ok: false };
    }
  }

  /** One of a fixed set of words. */
  oneOf<T extends string>(node: Node | null, field: string, values: readonly T[]): T | undefined {
    const n = this.deref(node, field);
    if (n === REPORTED) return undefined;
    // YAML 1.1 habits: `off` is a string in YAML 1.2 (which we parse), but `false` is
    // a boolean, so say which words are accepted rather than "must be a string".
    const raw = isScalar(n) && n.value !== null && typeof n.value !== 'object' ? String(n.value) : undefined;
    if (raw === undefined || !(values as readonly string[]).includes(raw)) {
      const got = raw !== undefined && isScalar(n) && typeof n.value === 'string' ? `'${raw}'` : describe(n);
      this.issue(n, field, `${leaf(field)} must be one of ${values.join(', ')}; got ${got}`);
      return undefined;
    }
    return raw as T;
  }

  /** The items of a sequence; with `single`, one scalar stands for a list of one (`crl: a.crl`). */
  list(node: Node | null, field: string, opts: { single?: boolean; nonEmpty?: boolean } = {}): Array<Node | null> | undefined {
    const n = this.deref(node, field);
    if (n === REPORTED) return undefined;
    if (opts.single === true && isScalar(n) && n.value !== null) return [n];
    if (!isSeq(n)) {
      this.issue(n, field, `${leaf(field)} must be a list${opts.single === true ? ' or a single value' : ''}; got ${describe(n)}`);
      return undefined;
    }
    if (opts.nonEmpty === true && n.items.length === 0) {
      this.issue(n, field, `${leaf(field)} must list at least one entry`);
      return undefined;
    }
    return n.items as Array<Node | null>;
  }
}

/** Keys that are refused with a message of their own (a section that moved, a secret written inline). */
export type RefusedKeys = Readonly<Record<string, string>>;

/** `tenants[2]` + `mtls` → `tenants[2].mtls`; `tenants` + 2 → `tenants[2]`. */
export function joinField(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

/** The last name in a dotted field, for messages: `tenants[0].mtls.mode` → `mode`. */
function leaf(field: string): string {
  const dot = field.lastIndexOf('.');
  return (dot >= 0 ? field.slice(dot + 1) : field).replace(/\[\d+\]$/, '') || 'value';
}

/** A short description of what was found, for "got …" in messages. */
export function describe(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'nothing (null)';
    if (typeof v === 'string') return `the string '${v}'`;
    if (typeof v === 'number' || typeof v === 'bigint') return `the number ${String(v)}`;
    if (typeof v === 'boolean') return `${String(v)}`;
  }
  return 'an unsupported value';
}
