/**
 * What every CLI command that calls the admin API shares: where it is
 * (`--url`, `BOUNCER_ADMIN_URL`), the token (`--token-file`,
 * `BOUNCER_ADMIN_TOKEN_FILE`, `BOUNCER_ADMIN_TOKEN`; never an argument, which
 * `ps` and shell history would show), and turning failures into one line that
 * says what to do.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ADMIN_DEFAULTS } from '../config/defaults.js';
import { BouncerError } from '../core/errors.js';

export const ADMIN_CLIENT_ENV = {
  url: 'BOUNCER_ADMIN_URL',
  token: 'BOUNCER_ADMIN_TOKEN',
  tokenFile: 'BOUNCER_ADMIN_TOKEN_FILE',
} as const;

const DEFAULT_URL = `http://${ADMIN_DEFAULTS.listen.host}:${ADMIN_DEFAULTS.listen.port}`;
/** An admin call that takes longer than this is stuck; a tenant upload with large CRLs still fits. */
const REQUEST_TIMEOUT_MS = 30_000;

/** Options every admin command takes. */
export interface AdminClientOptions {
  url?: string;
  tokenFile?: string;
  json?: boolean;
}

/**
 * A failed admin call. `code` is the server's error code (`ERR_CA_INVALID`),
 * or one of the client's own: `ERR_ADMIN_UNREACHABLE`, `ERR_ADMIN_NO_TOKEN`,
 * `ERR_ADMIN_BAD_URL`, `ERR_ADMIN_BAD_RESPONSE`, `ERR_CLI_USAGE`.
 */
export class AdminClientError extends BouncerError<string> {
  constructor(
    code: string,
    message: string,
    readonly status?: number,
    readonly requestId?: string,
  ) {
    super(code, message);
  }
}

/** Adds `--url`, `--token-file` and `--json` to a command. */
export function withAdminOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', `admin API base URL (env ${ADMIN_CLIENT_ENV.url}; default ${DEFAULT_URL})`)
    .option('--token-file <file>', `file holding the admin token (env ${ADMIN_CLIENT_ENV.tokenFile}, or the token itself in ${ADMIN_CLIENT_ENV.token})`)
    .option('--json', 'print the API answer as JSON');
}

/** A client bound to one URL and token. */
export interface AdminClient {
  readonly baseUrl: string;
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

function resolveToken(opts: AdminClientOptions, env: NodeJS.ProcessEnv): string {
  const file = opts.tokenFile ?? (env[ADMIN_CLIENT_ENV.tokenFile] || undefined);
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new AdminClientError('ERR_CLI_USAGE', `cannot read token file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const token = text.trim();
    if (token === '') throw new AdminClientError('ERR_ADMIN_NO_TOKEN', `token file ${file} is empty`);
    return token;
  }
  const token = env[ADMIN_CLIENT_ENV.token]?.trim();
  if (token) return token;
  throw new AdminClientError(
    'ERR_ADMIN_NO_TOKEN',
    `no admin token: set ${ADMIN_CLIENT_ENV.token}, or give --token-file FILE (or ${ADMIN_CLIENT_ENV.tokenFile}); tokens are never taken from the command line`,
  );
}

function resolveUrl(opts: AdminClientOptions, env: NodeJS.ProcessEnv): URL {
  const text = opts.url ?? (env[ADMIN_CLIENT_ENV.url] || DEFAULT_URL);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AdminClientError('ERR_ADMIN_BAD_URL', `--url must be an http(s) URL such as ${DEFAULT_URL}; got '${text}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AdminClientError('ERR_ADMIN_BAD_URL', `--url must be http or https; got '${url.protocol}'`);
  if (url.username !== '' || url.password !== '') throw new AdminClientError('ERR_ADMIN_BAD_URL', '--url must not carry a user name or password; the token goes in BOUNCER_ADMIN_TOKEN or --token-file');
  return url;
}

/** Why a connection failed, in words, from the error fetch (undici) gives. */
function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host not found',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
    ETIMEDOUT: 'timed out',
  };
  if ((err as Error).name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  if (code !== undefined) return `${words[code] ?? 'network error'} (${code})`;
  return typeof cause?.message === 'string' ? cause.message : (err as Error).message;
}

/**
 * Makes a client from the options and environment. Throws {@link AdminClientError}
 * when the URL is malformed or no token is given.
 *
 * @example
 * ```ts
 * const client = createAdminClient(opts);
 * const page = await client.request<TenantPage>('GET', '/v1/tenants?limit=10');
 * ```
 */
export function createAdminClient(opts: AdminClientOptions, env: NodeJS.ProcessEnv = process.env): AdminClient {
  const url = resolveUrl(opts, env);
  const token = resolveToken(opts, env);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) || url.hostname.startsWith('127.');
  if (url.protocol === 'http:' && !loopback) {
    process.stderr.write(`warning: sending the admin token in clear to ${url.host}; use https or an SSH tunnel\n`);
  }
  const baseUrl = url.toString().replace(/\/+$/, '');
  return {
    baseUrl,
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
      if (body !== undefined) headers['content-type'] = 'application/json';
      let res: Response;
      try {
        res = await fetch(`${baseUrl}${path}`, {
          method,
          headers,
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      } catch (err) {
        throw new AdminClientError(
          'ERR_ADMIN_UNREACHABLE',
          `cannot reach the admin API at ${baseUrl}: ${describeNetworkError(err)}; is bouncer running with an admin section, and is --url (or ${ADMIN_CLIENT_ENV.url}) right?`,
        );
      }
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        throw new AdminClientError('ERR_ADMIN_BAD_RESPONSE', `${method} ${path}: HTTP ${res.status} with a body that is not JSON; is ${baseUrl} the bouncer admin API?`, res.status);
      }
      if (res.ok) return parsed as T;
      const e = (parsed ?? {}) as { error?: unknown; message?: unknown; request_id?: unknown };
      const code = typeof e.error === 'string' ? e.error : `HTTP_${res.status}`;
      let message = typeof e.message === 'string' ? e.message : `HTTP ${res.status} ${res.statusText}`;
      if (res.status === 401) message += `; check ${ADMIN_CLIENT_ENV.token} or --token-file`;
      throw new AdminClientError(code, message, res.status, typeof e.request_id === 'string' ? e.request_id : undefined);
    },
  };
}

/**
 * Runs a command's work and reports an {@link AdminClientError} as one line,
 * `error: CODE: message (request id …)`, with exit status 2 for usage mistakes
 * and 1 for everything the API or the network refused.
 */
export function adminAction<A extends unknown[]>(work: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await work(...args);
    } catch (err) {
      if (!(err instanceof AdminClientError)) throw err;
      const rid = err.requestId !== undefined ? ` (request id ${err.requestId})` : '';
      process.stderr.write(`error: ${err.code}: ${err.message}${rid}\n`);
      process.exitCode = err.code === 'ERR_CLI_USAGE' || err.code === 'ERR_ADMIN_NO_TOKEN' || err.code === 'ERR_ADMIN_BAD_URL' ? 2 : 1;
    }
  };
}

/** Reads a file a command uploads (a CA bundle, a CRL), as text. */
export function readUpload(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new AdminClientError('ERR_CLI_USAGE', `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Prints `value` as one JSON document. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** `commander` collector for repeatable options (`--hostname a --hostname b`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** What a list command read: the items, and where the next page starts when there is one. */
export interface ListPages<T> {
  items: T[];
  next?: string;
}

/**
 * The paging of a list command (`--limit`, `--after`, `--all`): checks
 * `--limit`, reads one page from `--after`, or every page with `--all`.
 * `path` gives the request path of the page after `after`.
 */
export async function readListPages<T>(
  client: AdminClient,
  opts: Readonly<Record<string, unknown>>,
  maxLimit: number,
  path: (limit: string, after: string | undefined) => string,
): Promise<ListPages<T>> {
  const limit = String(opts.limit);
  if (!/^\d{1,4}$/.test(limit)) throw new AdminClientError('ERR_CLI_USAGE', `--limit must be a whole number from 1 to ${maxLimit}; got '${limit}'`);
  const items: T[] = [];
  let after = typeof opts.after === 'string' ? opts.after : undefined;
  let next: string | undefined;
  do {
    const page = await client.request<ListPages<T>>('GET', path(limit, after));
    items.push(...page.items);
    next = page.next;
    after = next;
  } while (opts.all === true && next !== undefined);
  return next === undefined ? { items } : { items, next };
}
