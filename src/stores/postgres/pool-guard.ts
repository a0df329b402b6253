import type pg from 'pg';

/**
 * Gives every connection the pool opens a lasting 'error' listener. pg-pool
 * hears a connection only while it is idle, and `pool.query` stops listening
 * after the first error. A connection that dies while someone holds it (a
 * failover, or `pg_terminate_backend` landing between two queries of a
 * transaction), or a second error from a dying one, would otherwise be an
 * unheard 'error' event, which ends the process. The dead connection fails
 * its holder's next query as before, and pg-pool discards it on release
 * because it is no longer queryable.
 *
 * Returns a function that stops guarding connections opened from then on
 * (for a pool its owner keeps using).
 */
export function guardPoolConnections(pool: pg.Pool, onError: (err: Error) => void): () => void {
  const onConnect = (client: pg.PoolClient): void => {
    client.on('error', onError);
  };
  pool.on('connect', onConnect);
  return () => {
    pool.off('connect', onConnect);
  };
}
