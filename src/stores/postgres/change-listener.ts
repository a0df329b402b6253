import pg from 'pg';

export interface ChangeListenerOptions {
  /** Connection settings for the dedicated LISTEN connection (LISTEN is per session, so it cannot come from the pool). */
  readonly connection: pg.ClientConfig;
  readonly channel: string;
  readonly reconnect: { readonly initialDelayMs: number; readonly maxDelayMs: number };
  readonly pingIntervalMs: number;
  /** A NOTIFY payload on the channel. */
  onNotify(payload: string): void;
  /**
   * Listening again after {@link ChangeListener.start} or a reconnect. Notifications
   * sent while we were away are lost, so this is where the caller resynchronises;
   * if it throws, the connection is treated as failed and retried.
   */
  onUp(first: boolean): Promise<void>;
  /** The connection failed; called once per failure, before the retry is scheduled. */
  onDown(err: Error): void;
}

/**
 * Keeps one LISTEN connection open for as long as the store lives: on any
 * failure it reconnects with capped exponential backoff (full jitter, so
 * replicas cut off together do not return in lockstep) and LISTENs again.
 */
export class ChangeListener {
  private client: pg.Client | undefined;
  private closed = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  /** Bumped per connection, so late events from a replaced client are ignored. */
  private generation = 0;
  /** Set while connecting: failures then surface through the awaited calls, not through {@link fail}. */
  private connecting = false;
  /** A connection event that arrived while connecting (the socket closed between two awaited calls). */
  private failedWhileConnecting: Error | undefined;

  constructor(private readonly options: ChangeListenerOptions) {}

  /** Connects and LISTENs once; throws when that fails, so a store does not start against a database it cannot reach. */
  async start(): Promise<void> {
    await this.connect(true);
  }

  /** Drops the current connection and goes through a reconnect, as if it had failed. */
  restart(reason: Error): void {
    if (this.closed || this.connecting || this.retryTimer !== undefined) return;
    this.fail(this.generation, reason);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(first: boolean): Promise<void> {
    const generation = ++this.generation;
    const client = new pg.Client(this.options.connection);
    // Without an 'error' listener a dropped connection would crash the process.
    client.on('error', (err) => this.fail(generation, err));
    client.on('end', () => this.fail(generation, new Error('LISTEN connection ended')));
    client.on('notification', (msg) => {
      if (generation === this.generation && msg.channel === this.options.channel && msg.payload !== undefined) this.options.onNotify(msg.payload);
    });
    this.client = client;
    this.connecting = true;
    this.failedWhileConnecting = undefined;
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.options.channel)}`);
      await this.options.onUp(first);
      if (this.failedWhileConnecting) throw this.failedWhileConnecting;
    } catch (err) {
      // Cleanup of this client may emit 'end', which the generation check ignores.
      this.generation += 1;
      await client.end().catch(() => undefined);
      throw err;
    } finally {
      this.connecting = false;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.attempt = 0;
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      client.query('SELECT 1').catch((err: Error) => this.fail(generation, err));
    }, this.options.pingIntervalMs);
    this.pingTimer.unref();
  }

  private fail(generation: number, err: Error): void {
    if (this.closed || generation !== this.generation) return;
    if (this.connecting) {
      this.failedWhileConnecting ??= err;
      return;
    }
    this.generation += 1;
    clearInterval(this.pingTimer);
    const client = this.client;
    this.client = undefined;
    client?.end().catch(() => undefined);
    this.options.onDown(err);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    const { initialDelayMs, maxDelayMs } = this.options.reconnect;
    const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** this.attempt);
    this.attempt += 1;
    const delay = Math.max(initialDelayMs / 2, Math.random() * ceiling);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed) return;
      this.connect(false).catch((err: unknown) => {
        if (this.closed) return;
        this.options.onDown(err instanceof Error ? err : new Error(String(err)));
        this.scheduleRetry();
      });
    }, delay);
    this.retryTimer.unref();
  }
}
