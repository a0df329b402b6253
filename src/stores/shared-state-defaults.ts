/**
 * Every default of the shared-state stores, each next to the reason for it, so
 * an operator tuning one knows what it trades.
 */

/** How a replica answers `isRevoked` once it has lost sync with Redis for longer than the grace. */
export type RevocationFailMode =
  /** Treat every session as revoked: revocation state is unknown, so deny (the default). */
  | 'closed'
  /**
   * Keep answering from the last mirror: sessions revoked elsewhere while
   * Redis was unreachable stay usable, and a replica that has never loaded
   * knows no revocation at all. Insecure; must be chosen explicitly.
   */
  | 'open-cached';

export const SHARED_STATE_DEFAULTS = Object.freeze({
  /** Unknown revocation state is a reason to deny (issue 6: "deny what cannot be decided safely"). */
  revocationFailMode: 'closed' as RevocationFailMode,
  /**
   * How long a replica keeps answering from its mirror after losing Redis
   * before `failMode` applies. Covers a Redis restart or Sentinel failover
   * (a few seconds) without logging everyone out, while bounding how stale a
   * "not revoked" answer can be.
   */
  revocationGraceMs: 15_000,
  /**
   * Upper bound on one Redis round trip. A login waits at most this long
   * before being refused, instead of hanging in ioredis' offline queue.
   */
  commandTimeoutMs: 1_000,
  /** Pause between retries of a failed mirror reload or pending revocation write. */
  retryMs: 1_000,
  /**
   * PING interval on the subscriber connection. A paused or partitioned Redis
   * keeps the TCP socket open and sends nothing; without a heartbeat the mirror
   * would claim to be in sync forever.
   */
  heartbeatMs: 2_000,
  /** How long `start()` waits for the first mirror load before reporting failure (it keeps trying). */
  startTimeoutMs: 5_000,
  /** In-memory single-use keys: handoffs live 60 s, so this is ~1,600 logins per second. */
  onceCapacity: 100_000,
  /** In-memory pending logins; anyone can start one, so the map must be bounded. */
  transactionCapacity: 10_000,
  /**
   * How long after its TTL a taken or expired transaction id is still reported
   * as `replayed`/`expired` (not `unknown`): enough to tell a double submit or a
   * stale tab from a forged state in logs and on the error page.
   */
  transactionRememberMs: 10 * 60_000,
  /**
   * Key prefixes, one namespace per purpose so a handoff jti can never collide
   * with a SAML assertion ID. Several bouncer deployments sharing one Redis
   * must each put their own prefix in front of these.
   */
  prefixes: Object.freeze({
    revocation: 'bouncer:rev:',
    handoff: 'bouncer:handoff:',
    samlAssertion: 'bouncer:saml-assertion:',
    samlRequest: 'bouncer:saml-request:',
    loginTransaction: 'bouncer:login-tx:',
  }),
});
