/**
 * Every error bouncer raises on purpose is a {@link BouncerError} with a stable
 * `code`. Users search for the code; tests and adapters switch on it. Messages
 * may change between releases, codes may not.
 *
 * One base class, subclasses by meaning (as jose does): a subclass that always
 * means one thing carries that code as `static code` too, so callers can write
 * `err.code === XfccError.code`. A family of related failures (tenant store,
 * shared state, login, admin API) is one subclass with its own code union,
 * declared next to the code that raises it:
 *
 * | class | where | codes |
 * |---|---|---|
 * | BouncerError | core/errors.ts | {@link ErrorCode} (config read, certificates, CRLs, PKI input, Envoy render, CLI usage) |
 * | ConfigError, XfccError | core/errors.ts | ERR_CONFIG_INVALID, ERR_XFCC_MALFORMED |
 * | XmlRejectedError | core/xml.ts | ERR_XML_REJECTED |
 * | SessionKeyRejectedError | core/session-jwt.ts | ERR_SESSION_KEY_REJECTED (internal to token checks) |
 * | TenantStoreError | stores/tenant-store.ts | TenantStoreErrorCode (ERR_TENANT_*, ERR_CA_INVALID, ERR_STORE_*...) |
 * | SharedStateError | stores/shared-state-errors.ts | ERR_STORE_UNAVAILABLE, ERR_STORE_FULL, ERR_STORE_CORRUPT |
 * | AdminError | admin/errors.ts | ERR_ADMIN_* and friends ({@link ADMIN_ERROR_STATUS}) |
 * | LoginError | web/idp/connector.ts | login_* |
 * | ReplayCacheFullError | web/idp/saml/replay-cache.ts | ERR_REPLAY_CACHE_FULL |
 * | CleanupError | serve/cleanup-stack.ts | ERR_CLEANUP_FAILED (a shutdown step of `bouncer serve` failed) |
 * | SamlIdpError | web/saml-idp/errors.ts | saml_* |
 * | AuthHttpError | web/auth/errors.ts | the auth pages' codes (app_unknown, return_url_invalid, ...) |
 * | AdminClientError | cli/admin-client.ts | the server's code, or ERR_ADMIN_UNREACHABLE and friends |
 * | TracingConfigError | observability/tracing.ts | ERR_TRACING_CONFIG (OTEL_* settings bouncer cannot honour) |
 *
 * Statuses are not part of an error: each adapter maps codes to its own wire
 * statuses in one table (gRPC: authz/grpc-errors.ts; HTTP: admin/errors.ts for
 * the admin API, web/http-status.ts for every page and answer of the web service).
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
  | 'ERR_EXPLAIN_INPUT'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_REVOCATION_FETCH'
  | 'ERR_INTERNAL';

/**
 * The base of every error bouncer raises on purpose. `C` is the code union of a
 * subclass's family; plain `BouncerError` uses {@link ErrorCode}.
 *
 * @example
 * ```ts
 * try { parseCertificateBundle(pem); }
 * catch (err) { if (err instanceof BouncerError && err.code === 'ERR_CERT_PARSE') deny('client_cert_invalid'); }
 * ```
 */
export class BouncerError<C extends string = ErrorCode> extends Error {
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
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

export class ConfigError extends BouncerError<'ERR_CONFIG_INVALID'> {
  static readonly code = 'ERR_CONFIG_INVALID';
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

export class XfccError extends BouncerError<'ERR_XFCC_MALFORMED'> {
  static readonly code = 'ERR_XFCC_MALFORMED';
  /** 0-based character offset in the header value where parsing failed. */
  readonly offset: number;

  constructor(message: string, offset: number) {
    super('ERR_XFCC_MALFORMED', `${message} at offset ${offset}`);
    this.offset = offset;
  }
}
