/**
 * Session revocation: one login session by its id (`sid`), or every session of
 * a user issued until now (by `sub`). Takes effect on the replica that holds
 * the revocation store at once, and on the others as soon as the shared store
 * (Redis) has it; the answer says whether that is confirmed.
 */
import type { RevocationStore } from '../../sessions/revocation.js';
import { ADMIN_DEFAULTS } from '../../config/defaults.js';
import type { AdminRoute } from '../route.js';
import { IDENTIFIER_BODY } from '../schemas.js';

/** The revocation store, and `flush` when it shares revocations with other replicas. */
export type AdminRevocationStore = RevocationStore & { flush?: () => Promise<void> };

const REVOKED_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['revoked', 'target', 'effective_until', 'propagated'],
  properties: {
    revoked: { type: 'string', enum: ['session', 'user'] },
    target: { type: 'string', description: 'The session id or the user sub.' },
    effective_until: {
      type: 'string',
      format: 'date-time',
      description: 'For a session: refused until then (the longest a session can live). For a user: sessions issued up to then are refused.',
    },
    propagated: { type: 'boolean', description: 'False when the shared store (Redis) has not confirmed it yet; it keeps retrying, and other replicas refuse the session once it has.' },
  },
} as const;

export interface SessionRouteOptions {
  readonly revocation: AdminRevocationStore;
  /** How long a revoked session id stays refused; the longest session any app allows. */
  readonly sessionRevocationMs: number;
  readonly flushTimeoutMs?: number;
}

/** Resolves true once the store confirms, false on failure or after the timeout. */
async function propagate(store: AdminRevocationStore, timeoutMs: number): Promise<boolean> {
  if (store.flush === undefined) return true;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((done) => {
    timer = setTimeout(() => done(false), timeoutMs);
  });
  try {
    return await Promise.race([store.flush().then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function sessionRoutes(o: SessionRouteOptions): AdminRoute[] {
  const flushMs = o.flushTimeoutMs ?? ADMIN_DEFAULTS.revocationFlushTimeoutMs;
  const ok = { 200: { description: 'Revoked.', schema: REVOKED_SCHEMA } };
  return [
    {
      method: 'POST',
      url: '/v1/revocations/sessions',
      operationId: 'revokeSession',
      summary: 'Revoke one login session by its id',
      description: 'The session id is the `sid` claim of the session JWT (also in the decision log).',
      tag: 'sessions',
      access: 'sessions:revoke',
      audit: 'session.revoke',
      schema: { body: IDENTIFIER_BODY('sid', 'The session id (`sid` claim).'), responses: ok },
      async handle(ctx) {
        const { sid } = ctx.body as { sid: string };
        const until = ctx.nowMs + o.sessionRevocationMs;
        ctx.note(sid);
        o.revocation.revokeSession(sid, until);
        const propagated = await propagate(o.revocation, flushMs);
        ctx.note(sid, { propagated });
        return { status: 200, body: { revoked: 'session', target: sid, effective_until: new Date(until).toISOString(), propagated } };
      },
    },
    {
      method: 'POST',
      url: '/v1/revocations/users',
      operationId: 'revokeUser',
      summary: 'Revoke every session of a user issued until now',
      description: 'Signs the user out everywhere: sessions issued up to this moment are refused; a new login works.',
      tag: 'sessions',
      access: 'sessions:revoke',
      audit: 'user.revoke',
      schema: { body: IDENTIFIER_BODY('sub', 'The user (`sub` claim of the session JWT).'), responses: ok },
      async handle(ctx) {
        const { sub } = ctx.body as { sub: string };
        ctx.note(sub);
        o.revocation.revokeUser(sub, ctx.nowMs);
        const propagated = await propagate(o.revocation, flushMs);
        ctx.note(sub, { propagated });
        return { status: 200, body: { revoked: 'user', target: sub, effective_until: new Date(ctx.nowMs).toISOString(), propagated } };
      },
    },
  ];
}
