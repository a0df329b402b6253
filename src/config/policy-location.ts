import { isMap, isScalar, isSeq, type Node } from 'yaml';
import type { NodeReader } from './node-reader.js';

/**
 * Finds the YAML node a policy compiler path points at, so its issue can be
 * reported at a line and column. The compiler works on plain data and knows
 * nothing of YAML; its paths are relative to the `policies` list, such as
 * `[1, 'include', 0, 'cel']`.
 *
 * Points at the value for a bad value, and at the key for an unknown key (the
 * message quotes it) or a key whose value is a list or mapping (its first line
 * is the key's line).
 * When the path leaves the tree (a missing key), it points at the deepest node
 * that exists: the mapping the key is missing from.
 *
 * @example
 * locatePolicyNode(reader, policiesNode, [0, 'include', 1], 'unknown selector "emial"')
 */
export function locatePolicyNode(reader: NodeReader, list: Node | null, path: readonly (string | number)[], message: string): Node | null {
  let anchor = list;
  for (const [i, seg] of path.entries()) {
    const n = reader.resolve(anchor);
    if (typeof seg === 'number' && isSeq(n)) {
      const item = n.items[seg] as Node | null | undefined;
      if (item === undefined || item === null) break;
      anchor = item;
      continue;
    }
    if (!isMap(n)) break;
    const pair = n.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
    if (!pair) break;
    const value = (pair.value as Node | null) ?? null;
    const resolved = reader.resolve(value);
    const last = i === path.length - 1;
    const atKey = value === null || (last && (!isScalar(resolved) || namesKey(message, String(seg))));
    anchor = atKey ? (pair.key as Node) : value;
    if (atKey) break;
  }
  return anchor;
}

/** `apps[0].policies` + `[1, 'include', 0, 'cel']` → `apps[0].policies[1].include[0].cel`. */
export function policyField(base: string, path: readonly (string | number)[]): string {
  return path.reduce<string>((f, seg) => (typeof seg === 'number' ? `${f}[${seg}]` : `${f}.${seg}`), base);
}

/** True for messages about the key itself, such as `unknown selector "emial"`. */
function namesKey(message: string, key: string): boolean {
  return /^unknown /.test(message) && (message.includes(`"${key}"`) || message.includes(`'${key}'`));
}
