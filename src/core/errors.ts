/**
 * Every error bouncer raises on purpose is a {@link BouncerError} with a stable
 * `code`. Users search for the code; tests and adapters switch on it. Messages
 * may change between releases, codes may not.
 */
export type ErrorCode =
  | 'ERR_CONFIG_INVALID'
  | 'ERR_CONFIG_READ'
  | 'ERR_XFCC_MALFORMED'
  | 'ERR_CERT_PARSE'
  | 'ERR_CRL_PARSE'
  | 'ERR_PKI_INPUT'
  | 'ERR_ENVOY_RENDER'
  | 'ERR_CLI_USAGE'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_REVOCATION_FETCH'
  | 'ERR_INTERNAL';

export class BouncerError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** One problem found in a config file, located as precisely as the source allows. */
export interface ConfigIssue {
  /** Path of the file the problem is in (the config file or a file it references). */
  file: string;
  /** 1-based line, when known. */
  line?: number;
  /** 1-based column, when known. */
  column?: number;
  /** Dotted field path, for example `tenants[0].mtls.mode`. */
  field: string;
  message: string;
}

export class ConfigError extends BouncerError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super('ERR_CONFIG_INVALID', ConfigError.format(issues));
    this.issues = issues;
  }

  static format(issues: readonly ConfigIssue[]): string {
    return issues
      .map((i) => {
        const at = i.line !== undefined ? `${i.file}:${i.line}${i.column !== undefined ? `:${i.column}` : ''}` : i.file;
        return `${at}: ${i.field}: ${i.message}`;
      })
      .join('\n');
  }
}

export class XfccError extends BouncerError {
  /** 0-based character offset in the header value where parsing failed. */
  readonly offset: number;

  constructor(message: string, offset: number) {
    super('ERR_XFCC_MALFORMED', `${message} at offset ${offset}`);
    this.offset = offset;
  }
}
