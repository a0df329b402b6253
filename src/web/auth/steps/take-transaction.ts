import { timingSafeEqual } from 'node:crypto';
import { readCookie } from '../../../sessions/cookies.js';
import { LoginError } from '../../idp/connector.js';
import { need, viaSharedStore, type SignInContext } from '../context.js';
import { CLEAR_TX_COOKIE, TX_COOKIE } from '../tx-cookie.js';

const TX_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * The login transaction named by `state` / `RelayState`, taken exactly once,
 * and only by the browser that started it (the tx cookie) at the IdP it was
 * started for.
 */
export async function takeTransaction(ctx: SignInContext): Promise<undefined> {
  const params = need(ctx, 'callbackParams');
  // The cookie goes whatever happens next: a transaction is single-use.
  ctx.reply.header('set-cookie', CLEAR_TX_COOKIE);

  const state = params.get('state') ?? params.get('RelayState');
  if (state === null || !TX_ID.test(state)) throw new LoginError('login_state_mismatch', 'callback without a valid state');
  const taken = await viaSharedStore('reading the login transaction', () => ctx.services.transactions.take(state));
  if (!taken.ok) {
    if (taken.problem === 'replayed') throw new LoginError('login_replayed', 'login transaction already used');
    if (taken.problem === 'expired') throw new LoginError('login_expired', 'login transaction expired');
    throw new LoginError('login_state_mismatch', 'no login transaction for this state');
  }
  const tx = taken.tx;
  const cookie = readCookie(ctx.req.headers.cookie, TX_COOKIE);
  if (cookie === undefined || !sameString(cookie, tx.id)) {
    throw new LoginError('login_state_mismatch', 'transaction cookie missing or from another browser');
  }
  const idpId = (ctx.req.params as { idp: string }).idp;
  if (tx.idp !== idpId) throw new LoginError('login_state_mismatch', `transaction was started for IdP ${tx.idp}`);
  ctx.tx = tx;
  // The app and return URL are checked again by the next steps: the config may have been reloaded since the login started.
  ctx.asked = { app: tx.app, rd: tx.rd, idp: tx.idp };
  ctx.bind = tx.bind;
  return undefined;
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
