/** The part of a pino logger the PostgreSQL stores use. */
export interface StoreLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const SILENT_LOGGER: StoreLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
