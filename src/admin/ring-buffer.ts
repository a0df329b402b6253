/**
 * A fixed-capacity buffer that keeps the newest items: memory stays bounded
 * however busy the server is, and the oldest item is dropped first.
 */
export interface RingBuffer<T> {
  push(item: T): void;
  /** Items, newest first, for which `keep` holds, at most `limit`. */
  newestFirst(keep: (item: T) => boolean, limit: number): T[];
  readonly size: number;
  readonly capacity: number;
}

export function createRingBuffer<T>(capacity: number): RingBuffer<T> {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring buffer capacity must be a whole number of at least 1; got ${capacity}`);
  const items: T[] = [];
  let next = 0;
  return {
    push(item) {
      if (items.length < capacity) items.push(item);
      else items[next] = item;
      next = (next + 1) % capacity;
    },
    newestFirst(keep, limit) {
      const out: T[] = [];
      for (let i = 1; i <= items.length && out.length < limit; i++) {
        const item = items[(next - i + capacity * 2) % capacity] as T;
        if (keep(item)) out.push(item);
      }
      return out;
    },
    get size() {
      return items.length;
    },
    capacity,
  };
}
