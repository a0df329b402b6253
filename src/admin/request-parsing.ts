/**
 * Reading a request before its route sees it: the JSON body, query strings
 * typed by the schema, and the request's own path for messages and fields.
 */
import { AdminError, type RenderedError } from './errors.js';
import type { AdminRoute, JsonSchema } from './route.js';

/**
 * Parses a request body. A `__proto__` key is refused outright: it is never a
 * field of ours, and objects carrying one are how prototype pollution starts
 * once they are merged somewhere.
 */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw new AdminError('ERR_ADMIN_BAD_JSON', 'the request body is empty but Content-Type says application/json; send a JSON object');
  try {
    return JSON.parse(text, (key, value: unknown) => {
      if (key === '__proto__') throw new AdminError('ERR_ADMIN_BAD_JSON', 'the request body has a "__proto__" key, which is refused (prototype pollution)');
      return value;
    });
  } catch (err) {
    if (err instanceof AdminError) throw err;
    throw new AdminError('ERR_ADMIN_BAD_JSON', `the request body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Query strings are text; the schemas say `integer` or `boolean` where that is
 * what the operation means (and what the OpenAPI document shows). Values that
 * look right are converted here, before validation; anything else stays a
 * string and the schema refuses it with a clear message.
 */
export function coerceQuery(query: unknown, schema: JsonSchema | undefined): void {
  const props = schema?.properties as Readonly<Record<string, JsonSchema>> | undefined;
  if (!props || typeof query !== 'object' || query === null) return;
  const q = query as Record<string, unknown>;
  for (const [key, s] of Object.entries(props)) {
    const v = q[key];
    if (typeof v !== 'string') continue;
    if (s.type === 'integer' && /^-?\d{1,15}$/.test(v)) q[key] = Number(v);
    else if (s.type === 'boolean' && (v === 'true' || v === 'false')) q[key] = v === 'true';
  }
}

/**
 * The tenant store names fields of its own input (`name`, `hostname`,
 * `mtls.ca_pem`); clients need to know where in their request that was:
 * `body.name`, `params.hostname`, or `body.ca_pem` for the CA upload route.
 */
export function qualifyField(route: AdminRoute | undefined, e: RenderedError): RenderedError {
  if (route === undefined || e.field === undefined || /^(body|params|query)\b/.test(e.field)) return e;
  const has = (schema: JsonSchema | undefined, key: string): boolean => Object.hasOwn((schema?.properties as object | undefined) ?? {}, key);
  const first = e.field.split(/[.[]/)[0] ?? '';
  const inMtls = e.field.startsWith('mtls.') ? e.field.slice('mtls.'.length) : undefined;
  let field = e.field;
  if (has(route.schema.body, first)) field = `body.${e.field}`;
  else if (inMtls !== undefined && has(route.schema.body, inMtls.split(/[.[]/)[0] ?? '')) field = `body.${inMtls}`;
  else if (has(route.schema.params, first)) field = `params.${e.field}`;
  return { ...e, field };
}

export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q >= 0 ? url.slice(0, q) : url;
}

export function toDocPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}
