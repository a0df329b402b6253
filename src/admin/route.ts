/**
 * The shape of one admin API operation. The server registers each with
 * fastify (its schemas validate requests and serialise answers) and the
 * OpenAPI document is generated from the very same objects, so the two cannot
 * drift apart.
 */
import type { AdminScope } from '../config/admin-scopes.js';
import type { AdminToken } from './tokens.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A JSON Schema, in the subset both fastify's Ajv (draft-07) and OpenAPI 3.1 (2020-12) read alike. */
export type JsonSchema = { readonly [key: string]: unknown };

/** Who may call an operation: nobody needs a token (`public`), any valid token, or a token with a scope. */
export type Access = 'public' | 'authenticated' | AdminScope;

export interface RouteSchema {
  readonly params?: JsonSchema;
  readonly querystring?: JsonSchema;
  readonly body?: JsonSchema;
  /** Success answers: status → description and body schema (none for 204). */
  readonly responses: Readonly<Record<number, { readonly description: string; readonly schema?: JsonSchema }>>;
  /** Error statuses the operation itself can answer; 400/401/403/413/415/500 are added where they apply. */
  readonly errors?: readonly number[];
}

/** What a handler gets: validated input, the caller, the clock, and the audit note to fill in. */
export interface RouteContext {
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, unknown>>;
  /** Validated against `schema.body`; handlers cast it to the matching interface. */
  readonly body: unknown;
  /** Undefined only on `public` operations. */
  readonly caller: AdminToken | undefined;
  readonly requestId: string;
  readonly nowMs: number;
  /** Says what this change touched, for its audit entry; later calls add to the summary. */
  note(target: string | null, summary?: Readonly<Record<string, unknown>>): void;
}

export interface RouteResult {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface AdminRoute {
  readonly method: HttpMethod;
  /** fastify syntax: `/v1/tenants/:name`. */
  readonly url: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  readonly access: Access;
  /** Set on every operation that changes something: the audit action (`tenant.create`). */
  readonly audit?: string;
  /** Overrides the server's default body limit. */
  readonly bodyLimit?: number;
  readonly schema: RouteSchema;
  handle(ctx: RouteContext): Promise<RouteResult>;
}
