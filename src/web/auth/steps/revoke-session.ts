import { revokeSignIn } from '../../../sessions/revocation.js';
import type { SignInContext } from '../context.js';
import { longestSessionMs } from '../login-apps.js';

/** Logout: revoke the sign-in behind the global session (and, with `everywhere=1`, every session of the user). */
export async function revokeSession(ctx: SignInContext): Promise<undefined> {
  const session = ctx.globalSession;
  if (session === undefined) return undefined;
  const { req, nowMs } = ctx;
  const deps = ctx.services.deps;
  // Revoking the sid also ends every app session minted from this login (they share it),
  // for as long as any of them could live.
  revokeSignIn(deps.revocation, session, nowMs, longestSessionMs(deps.config()));
  // "Sign out everywhere": every session of this user issued until now, on any device.
  if ((req.query as Record<string, unknown>).everywhere === '1') deps.revocation.revokeUser(session.sub, nowMs);
  req.log.info({ sub: session.sub, sid: session.sid }, 'logout');
  if (deps.flushRevocations) {
    // The revocation stays queued and is retried; say so rather than fail the sign-out the user asked for.
    await deps.flushRevocations().catch((err: unknown) => req.log.warn({ err: { message: (err as Error).message } }, 'logout: revocation not yet shared with other replicas; it will be retried'));
  }
  return undefined;
}
