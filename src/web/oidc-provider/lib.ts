/**
 * The only file that knows the shape of `oidc-provider`.
 *
 * The package ships no type declarations, and strict TypeScript refuses an
 * untyped import. Instead of a project-wide `declare module` we load it with a
 * dynamic `import()` of a non-literal specifier and type it with the small
 * interfaces below, listing exactly what bouncer uses, so an upgrade that
 * changes one of them fails here, in one place (same approach as
 * `src/web/idp/saml/libs.ts`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Koa-like context handed to provider hooks, as much of it as we read or write. */
export interface OidcCtx {
  status: number;
  type: string;
  body: unknown;
  set(name: string, value: string): void;
  /** A request header ('' when absent). */
  get(name: string): string;
  readonly oidc: {
    readonly params?: Readonly<Record<string, unknown>>;
    readonly result?: { readonly login?: unknown; readonly consent?: { readonly grantId?: string } } | undefined;
    readonly entities: { readonly Grant?: { readonly jti?: string } | undefined };
  };
}

/** A stored token or code the provider passes to `findAccount`. */
export interface OidcTokenLike {
  readonly grantId?: string;
}

/** What `findAccount` resolves to. */
export interface OidcAccount {
  accountId: string;
  claims(use: string, scope: string): Promise<Record<string, unknown>>;
}

/** One pending interaction (`provider.interactionDetails`). */
export interface OidcInteraction {
  readonly uid: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly prompt: { readonly name: string; readonly reasons: readonly string[] };
  readonly session?: { readonly accountId?: string } | undefined;
}

/** A grant under construction (`new provider.Grant(...)`). */
export interface OidcGrant {
  addOIDCScope(scope: string): void;
  /** Resolves to the grant id. */
  save(): Promise<string>;
}

/** The result an interaction ends with. */
export interface OidcInteractionResult {
  login?: { accountId: string; amr?: string[]; ts?: number; remember?: boolean };
  consent?: { grantId: string };
  error?: string;
  error_description?: string;
}

/** Storage for one model (Session, Interaction, AuthorizationCode, ...), as oidc-provider calls it. */
export interface OidcAdapter {
  upsert(id: string, payload: OidcPayload, expiresIn: number): Promise<void>;
  find(id: string): Promise<OidcPayload | undefined>;
  findByUserCode(userCode: string): Promise<OidcPayload | undefined>;
  findByUid(uid: string): Promise<OidcPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

/** A stored model payload; opaque except for the fields the adapter indexes. */
export interface OidcPayload {
  [key: string]: unknown;
  consumed?: number;
  grantId?: string;
  uid?: string;
  userCode?: string;
}

/** An interaction policy check (`interactionPolicy.Check`). */
export interface OidcCheck {
  readonly reason: string;
}

/** An interaction policy prompt (`interactionPolicy.Prompt`). */
export interface OidcPrompt {
  readonly name: string;
  readonly checks: { add(check: OidcCheck, index?: number): void };
}

/** The interaction policy (`interactionPolicy.base()`). */
export interface OidcInteractionPolicy {
  get(name: string): OidcPrompt | undefined;
}

/** The provider instance (a Koa application). */
export interface OidcProviderInstance {
  /** Koa's `proxy`: trust `X-Forwarded-Proto` / `X-Forwarded-Host`. */
  proxy: boolean;
  readonly issuer: string;
  callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<OidcInteraction>;
  /** Stores the result and resolves to the URL to send the browser back to. */
  interactionResult(req: IncomingMessage, res: ServerResponse, result: OidcInteractionResult, o?: { mergeWithLastSubmission?: boolean }): Promise<string>;
  readonly Grant: new (o: { clientId: string; accountId: string }) => OidcGrant;
  on(event: string, listener: (...args: unknown[]) => void): void;
}

/** The parts of the module we use. */
export interface OidcProviderModule {
  Provider: new (issuer: string, configuration: object) => OidcProviderInstance;
  interactionPolicy: {
    base(): OidcInteractionPolicy;
    Check: new (reason: string, description: string, check: (ctx: OidcCtx) => boolean | Promise<boolean>) => OidcCheck;
  };
  /** `SessionNotFound` and friends: thrown by `interactionDetails`. */
  errors: Readonly<Record<string, new (...args: never[]) => Error>>;
}

// A non-literal specifier keeps the compiler from looking for declarations.
const MODULE: string = 'oidc-provider';
let loaded: Promise<OidcProviderModule> | undefined;

/**
 * Load `oidc-provider` once (ESM-only, so a dynamic import).
 *
 * @example
 * ```ts
 * const { Provider } = await loadOidcProvider();
 * ```
 */
export function loadOidcProvider(): Promise<OidcProviderModule> {
  loaded ??= import(MODULE).then((m: unknown) => m as OidcProviderModule);
  return loaded;
}
