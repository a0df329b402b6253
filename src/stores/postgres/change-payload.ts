/**
 * The NOTIFY payload every write sends in its transaction: a tenant name and
 * some of its hostnames (old and new), so each replica evicts exactly what the
 * change touched.
 */

/** Below PostgreSQL's 8000-byte NOTIFY payload limit, with room for the JSON around the names. */
const NOTIFY_CHUNK_BYTES = 7_000;

export interface ChangePayload {
  readonly t: string;
  readonly h: readonly string[];
}

/** Splits a change into NOTIFY payloads under the size limit; a change with no hostnames still sends one. */
export function chunkPayloads(name: string, hostnames: readonly string[]): string[] {
  const out: string[] = [];
  let chunk: string[] = [];
  let size = name.length + 32;
  for (const h of hostnames) {
    if (chunk.length > 0 && size + h.length + 3 > NOTIFY_CHUNK_BYTES) {
      out.push(JSON.stringify({ t: name, h: chunk } satisfies ChangePayload));
      chunk = [];
      size = name.length + 32;
    }
    chunk.push(h);
    size += h.length + 3;
  }
  out.push(JSON.stringify({ t: name, h: chunk } satisfies ChangePayload));
  return out;
}

/** A payload as received, or undefined when it is not one this build can read. */
export function parsePayload(text: string): ChangePayload | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const { t, h } = value as { t?: unknown; h?: unknown };
    if (typeof t !== 'string' || !Array.isArray(h) || !h.every((x): x is string => typeof x === 'string')) return undefined;
    return { t, h };
  } catch {
    return undefined;
  }
}
