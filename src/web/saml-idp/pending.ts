/**
 * AuthnRequests waiting for the user to log in. The login round trip returns to
 * `/saml/idp/:app/sso?pending=<id>`; the verified request stays here, server-side,
 * so nothing the browser carries through the login can change its ACS or ID.
 */
import { randomBytes } from 'node:crypto';

/** A verified request (or an IdP-initiated start) parked during login. */
export interface PendingSamlRequest {
  app: string;
  /** Undefined for IdP-initiated logins. */
  requestId: string | undefined;
  acsUrl: string;
  relayState: string | undefined;
  createdMs: number;
  /**
   * Hash of the binding cookie set on the auth domain when the request was
   * parked (`core/login-binding.ts`): only that browser can resume it.
   */
  bind?: string | undefined;
}

/** The store of parked requests. */
export interface PendingSamlStore {
  /** Parks `req`; returns its id (43 base64url characters). */
  put(req: PendingSamlRequest, nowMs: number): string;
  /** The request, if not expired; it stays until {@link PendingSamlStore.remove}. */
  get(id: string, nowMs: number): PendingSamlRequest | undefined;
  remove(id: string): void;
}

/** As long as a login transaction lives: the login that starts from here must fit in it. */
export const PENDING_TTL_MS = 10 * 60_000;
/** Bounds memory under a flood of unauthenticated requests; the oldest go first. */
export const PENDING_MAX = 10_000;

const PENDING_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * In-memory store. Several bouncer instances behind one auth domain need sticky
 * sessions for the login round trip, as for login transactions.
 *
 * @example
 * const pending = createPendingSamlStore();
 * const id = pending.put({ app: 'salesforce', requestId, acsUrl, relayState, createdMs: now }, now);
 */
export function createPendingSamlStore(o: { ttlMs?: number; max?: number } = {}): PendingSamlStore {
  const ttl = o.ttlMs ?? PENDING_TTL_MS;
  const max = o.max ?? PENDING_MAX;
  // Map keeps insertion order, so the first key is the oldest.
  const entries = new Map<string, PendingSamlRequest>();
  return {
    put(req, nowMs) {
      for (const [id, e] of entries) {
        if (e.createdMs + ttl > nowMs && entries.size < max) break;
        entries.delete(id);
      }
      const id = randomBytes(32).toString('base64url');
      entries.set(id, { ...req, createdMs: nowMs });
      return id;
    },
    get(id, nowMs) {
      if (!PENDING_ID.test(id)) return undefined;
      const e = entries.get(id);
      if (e === undefined) return undefined;
      if (e.createdMs + ttl <= nowMs) {
        entries.delete(id);
        return undefined;
      }
      return e;
    },
    remove(id) {
      entries.delete(id);
    },
  };
}
