/**
 * What `bouncer serve` opened, to be closed in reverse: each step of the
 * composition root registers its cleanup as soon as the thing it opened
 * exists, so a failure half-way through start-up closes exactly what was
 * opened, and shutdown closes everything through the same path.
 *
 * The shape follows TC39's AsyncDisposableStack (`defer`, `use`,
 * `disposeAsync`), written out because Node 22.12, which bouncer still
 * supports, has no global AsyncDisposableStack.
 */

import { BouncerError } from '../core/errors.js';

/** A cleanup step; a thrown error or rejection does not stop the steps after it. */
export type Cleanup = () => void | Promise<void>;

export interface CleanupEntry {
  /** Named in the error when the step fails, so a log line says what did not close. */
  readonly name: string;
  readonly run: Cleanup;
}

/** One step of {@link CleanupStack.disposeAsync} failed; `cause` is its error. */
export class CleanupError extends BouncerError<'ERR_CLEANUP_FAILED'> {
  static readonly code = 'ERR_CLEANUP_FAILED';
  constructor(
    readonly step: string,
    cause: unknown,
  ) {
    super('ERR_CLEANUP_FAILED', `closing ${step} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export class CleanupStack {
  private readonly entries: CleanupEntry[] = [];
  private disposing: Promise<void> | undefined;

  /** Whether {@link disposeAsync} has started; nothing may be added after that. */
  get disposed(): boolean {
    return this.disposing !== undefined;
  }

  /** Registers `run` to be called, after every later registration, by {@link disposeAsync}. */
  defer(name: string, run: Cleanup): void {
    if (this.disposing) throw new Error(`cannot register "${name}": the cleanup stack is already disposed`);
    this.entries.push({ name, run });
  }

  /** Registers `close` for `value` and returns `value`, for `const x = stack.use(...)`. */
  use<T>(name: string, value: T, close: (value: T) => void | Promise<void>): T {
    this.defer(name, () => close(value));
    return value;
  }

  /**
   * Runs every step, last registered first, each awaited before the next.
   * A step that fails is reported after the others have run: one error as a
   * {@link CleanupError}, several as an AggregateError of them. Calling it
   * again returns the same promise.
   */
  disposeAsync(): Promise<void> {
    this.disposing ??= (async () => {
      const failures: CleanupError[] = [];
      while (this.entries.length > 0) {
        const entry = this.entries.pop() as CleanupEntry;
        try {
          await entry.run();
        } catch (err) {
          failures.push(new CleanupError(entry.name, err));
        }
      }
      if (failures.length === 1) throw failures[0];
      if (failures.length > 1) throw new AggregateError(failures, `${failures.length} cleanup steps failed: ${failures.map((f) => f.step).join(', ')}`);
    })();
    return this.disposing;
  }
}
