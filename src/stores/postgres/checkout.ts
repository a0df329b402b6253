import type pg from 'pg';

/** A pooled connection held for one transaction; see {@link checkout}. */
export interface Checkout {
  readonly client: pg.PoolClient;
  /** The connection's own 'error' event, if it fired while held (the connection is then dead). */
  failure(): Error | undefined;
  /**
   * Hands the connection back. With an error, or after a failure, it is
   * discarded instead of going back to the pool for the next caller.
   */
  release(err?: Error): void;
}

const ignoreLateErrors = (): void => undefined;

/**
 * Takes a connection from the pool for the length of a transaction. pg-pool
 * listens for a connection's 'error' event only while the connection is idle;
 * one that dies while checked out (a failover, or `pg_terminate_backend`
 * landing between two queries of a transaction) emits 'error' with nobody
 * listening, and an unheard 'error' ends the process. This listens while the
 * connection is held, so such a failure surfaces as the failed query's error
 * (the caller's usual path), never as a crash.
 */
export async function checkout(pool: pg.Pool): Promise<Checkout> {
  const client = await pool.connect();
  let failure: Error | undefined;
  const onError = (err: Error): void => {
    failure ??= err;
  };
  client.on('error', onError);
  let released = false;
  return {
    client,
    failure: () => failure,
    release(err) {
      if (released) return;
      released = true;
      const broken = err ?? failure;
      client.removeListener('error', onError);
      // A discarded connection may still report its end; nothing is left to tell.
      if (broken) client.on('error', ignoreLateErrors);
      client.release(broken);
    },
  };
}

/**
 * Gives every connection the pool opens a lasting 'error' listener. pg-pool
 * hears a connection only while it is idle, and `pool.query` stops listening
 * after the first error; a second error from the same dying connection, or one
 * that arrives in a hand-over between two holders, would otherwise go unheard
 * and end the process. The connection is unusable afterwards either way, and
 * whoever uses it next gets the error from its query.
 */
export function guardPoolConnections(pool: pg.Pool, onError: (err: Error) => void): () => void {
  const onConnect = (client: pg.PoolClient): void => {
    client.on('error', onError);
  };
  pool.on('connect', onConnect);
  // Stops guarding connections opened from now on (for a pool the caller keeps using).
  return () => {
    pool.off('connect', onConnect);
  };
}
