/**
 * Turns a schema validation failure (fastify's Ajv, run with `verbose` so each
 * error carries its schema and value) into one message that names the field
 * as the client wrote it and says what was expected: `body.mtls.mode: must be
 * one of require, optional, off; got 'strict'`.
 */
import { didYouMean } from '../core/did-you-mean.js';

/** The parts of an Ajv error object this reads. */
export interface SchemaError {
  readonly keyword: string;
  readonly instancePath: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly message?: string | undefined;
  readonly data?: unknown;
  readonly parentSchema?: Readonly<Record<string, unknown>> | undefined;
}

/** `/hostnames/1` under `body` → `body.hostnames[1]`. */
export function fieldOf(context: string, instancePath: string): string {
  let field = context;
  for (const part of instancePath.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    field += /^\d+$/.test(key) ? `[${key}]` : `.${key}`;
  }
  return field;
}

/** What a value is, without echoing it: values may be long, or secrets sent in the wrong field. */
function kindOf(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'a whole number' : 'a number';
  return `a ${typeof value}`;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  object: 'an object',
  array: 'a list',
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  null: 'null',
};

function shortValue(value: unknown): string {
  const text = typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** One message and the field at fault, from the first validation error. */
export function describeSchemaError(context: string, error: SchemaError): { message: string; field: string } {
  const where = context === 'querystring' ? 'query' : context;
  const field = fieldOf(where, error.instancePath);
  const p = error.params;
  switch (error.keyword) {
    case 'required': {
      const missing = `${field}.${String(p.missingProperty)}`;
      return { field: missing, message: `${missing} is required` };
    }
    case 'additionalProperties': {
      const extra = String(p.additionalProperty);
      const allowed = Object.keys((error.parentSchema?.properties as Record<string, unknown> | undefined) ?? {});
      const hint = didYouMean(extra, allowed);
      const expected = allowed.length > 0 ? `; expected ${allowed.join(', ')}` : '';
      return { field: `${field}.${extra}`, message: `${field}: unknown field '${extra}'${hint !== undefined ? ` (did you mean '${hint}'?)` : ''}${expected}` };
    }
    case 'type': {
      const wanted = String(p.type).split(',').map((t) => TYPE_NAMES[t] ?? t).join(' or ');
      return { field, message: `${field}: must be ${wanted}; got ${kindOf(error.data)}` };
    }
    case 'enum': {
      const allowed = Array.isArray(p.allowedValues) ? p.allowedValues.map(String).join(', ') : '';
      return { field, message: `${field}: must be one of ${allowed}; got ${shortValue(error.data)}` };
    }
    case 'format':
      return { field, message: p.format === 'date-time' ? `${field}: must be an RFC 3339 time such as 2026-11-23T12:00:00Z` : `${field}: must be a ${String(p.format)}` };
    case 'minProperties':
      return { field, message: `${field}: give at least one field to change` };
    default:
      return { field, message: `${field}: ${error.message ?? 'is not valid'}` };
  }
}

/**
 * The error to report when there are several: an unknown field first (it is
 * usually why a required one is "missing"), then the first in schema order.
 */
export function pickSchemaError(errors: readonly SchemaError[]): SchemaError {
  const first = errors[0];
  if (first === undefined) return { keyword: 'unknown', instancePath: '', params: {}, message: 'is not valid' };
  return errors.find((e) => e.keyword === 'additionalProperties') ?? first;
}
