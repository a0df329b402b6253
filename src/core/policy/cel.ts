/**
 * CEL rules for the `cel` selector, on `@bufbuild/cel`.
 *
 * Each expression is parsed and planned once at config load. The library has
 * no public type checker, so at compile time we check what we can cheaply:
 * syntax, size, and that every free variable is `identity` or `request`
 * (anything else can only ever fail at runtime). The rest (field typos, a
 * non-bool result) shows up as an evaluation error, which the evaluator turns
 * into the restrictive outcome.
 */
import { celEnv, CelScalar, isCelError, mapType, parse, plan, type CelInput } from '@bufbuild/cel';
import type { Identity, RequestCertificate, RequestContext } from '../identity.js';

/** Longest accepted expression; CEL rules are one-liners, a megabyte is a mistake or an attack. */
export const MAX_CEL_LENGTH = 4096;

const ENV = celEnv({
  variables: {
    identity: mapType(CelScalar.STRING, CelScalar.DYN),
    request: mapType(CelScalar.STRING, CelScalar.DYN),
  },
});

/** Names that parse as identifiers but are CEL type denotations (`type(x) == string`). */
const TYPE_IDENTS = new Set(['bool', 'int', 'uint', 'double', 'string', 'bytes', 'list', 'map', 'null_type', 'type', 'dyn']);

/** Plans against our fixed environment; named so its return type can be reused. */
function planRule(parsed: ReturnType<typeof parse>) {
  return plan(ENV, parsed);
}
type Planned = ReturnType<typeof planRule>;

/** A compiled CEL rule. */
export interface CelProgram {
  readonly source: string;
  /** Whether the expression mentions `identity`; such rules cannot be decided before login. */
  readonly usesIdentity: boolean;
  readonly run: Planned;
}

/** The maps a CEL rule sees; built once per evaluation. */
export interface CelBindings {
  readonly identity: ReadonlyMap<string, CelInput> | undefined;
  readonly request: ReadonlyMap<string, CelInput>;
}

/** Result of running a rule: a bool, or why not (an error or a non-bool value). */
export type CelOutcome = { ok: true; value: boolean } | { ok: false; message: string };

/**
 * Parses and plans `source`.
 *
 * @example compileCel('"admins" in identity.groups') // { ok: true, program }
 */
export function compileCel(source: string): { ok: true; program: CelProgram } | { ok: false; message: string } {
  if (source.trim().length === 0) return { ok: false, message: 'CEL expression is empty' };
  if (source.length > MAX_CEL_LENGTH) return { ok: false, message: `CEL expression is longer than ${MAX_CEL_LENGTH} characters` };
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (err) {
    return { ok: false, message: `CEL syntax error: ${errorText(err)}` };
  }
  const free = new Set<string>();
  const calls = new Set<string>();
  collectFreeIdents(parsed.expr, new Set(), free, calls);
  // Operators (`_==_`, `@in`) are handled by the planner; named functions must
  // exist in the environment, or the rule could only ever fail at runtime.
  const unknownFuncs = [...calls].filter((n) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n) && ENV.funcs.find(n) === undefined);
  if (unknownFuncs.length > 0) {
    return { ok: false, message: `CEL expression calls unknown function${unknownFuncs.length > 1 ? 's' : ''} ${unknownFuncs.map((n) => `"${n}"`).join(', ')}` };
  }
  const unknown = [...free].filter((n) => n !== 'identity' && n !== 'request' && !TYPE_IDENTS.has(n));
  if (unknown.length > 0) {
    return { ok: false, message: `CEL expression uses unknown variable${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')}; only "identity" and "request" exist` };
  }
  let run: Planned;
  try {
    run = planRule(parsed);
  } catch (err) {
    return { ok: false, message: `CEL error: ${errorText(err)}` };
  }
  return { ok: true, program: { source, usesIdentity: free.has('identity'), run } };
}

/**
 * Runs a compiled rule. Never throws: a CEL error, a thrown exception or a
 * result that is not a bool all come back as `{ ok: false }`.
 */
export function runCel(program: CelProgram, bindings: CelBindings): CelOutcome {
  try {
    const result = program.run({
      // An absent identity is an empty map so a rule that does not look at it
      // still runs; rules that do are decided by the caller before this point.
      identity: bindings.identity ?? new Map<string, CelInput>(),
      request: bindings.request,
    });
    if (isCelError(result)) return { ok: false, message: `CEL evaluation error: ${result.message}` };
    if (typeof result !== 'boolean') return { ok: false, message: 'CEL expression did not return a bool' };
    return { ok: true, value: result };
  } catch (err) {
    return { ok: false, message: `CEL evaluation error: ${errorText(err)}` };
  }
}

/**
 * Builds the `identity` and `request` maps. Absent facts are absent keys (not
 * null), so rules can test them with `has(request.country)`. Times are CEL
 * ints in seconds, like JWT claims.
 */
export function buildCelBindings(identity: Identity | undefined, ctx: RequestContext): CelBindings {
  // Built with set() rather than from entry arrays, and lists passed as they
  // are (CEL never writes to its inputs): this runs on every check with a CEL
  // rule, and each entry array or copy was one more allocation.
  const request = new Map<string, CelInput>();
  request.set('host', ctx.host).set('path', ctx.path).set('method', ctx.method).set('time', BigInt(Math.floor(ctx.nowMs / 1000)));
  if (ctx.sourceIp !== undefined) request.set('ip', ctx.sourceIp);
  if (ctx.country !== undefined) request.set('country', ctx.country.toUpperCase());
  if (ctx.serviceToken !== undefined) request.set('service_token', ctx.serviceToken.id);
  if (ctx.certificate !== undefined) request.set('certificate', certificateMap(ctx.certificate));
  return { identity: identity === undefined ? undefined : identityMap(identity), request };
}

/*
 * The identity and certificate maps depend only on their (frozen) source
 * objects, which the session gate and the verdict cache hand out again for
 * every request of the same session or device: each map is built once per
 * object and shared, as CEL only reads its inputs. Weakly held: a map goes
 * with its object.
 */
const identityMaps = new WeakMap<Identity, ReadonlyMap<string, CelInput>>();
const certificateMaps = new WeakMap<RequestCertificate, ReadonlyMap<string, CelInput>>();

function identityMap(identity: Identity): ReadonlyMap<string, CelInput> {
  let id = identityMaps.get(identity);
  if (id === undefined) {
    const m = new Map<string, CelInput>();
    m.set('sub', identity.sub)
      .set('email_verified', identity.emailVerified)
      .set('groups', identity.groups)
      .set('idp', identity.idp.id)
      .set('idp_type', identity.idp.type)
      .set('amr', identity.amr)
      .set('auth_time', BigInt(Math.floor(identity.authTime / 1000)));
    if (identity.email !== undefined) m.set('email', identity.email);
    if (identity.name !== undefined) m.set('name', identity.name);
    id = m;
    identityMaps.set(identity, id);
  }
  return id;
}

function certificateMap(c: RequestCertificate): ReadonlyMap<string, CelInput> {
  let cert = certificateMaps.get(c);
  if (cert === undefined) {
    const m = new Map<string, CelInput>();
    m.set('fingerprint256', c.fingerprint256.toLowerCase()).set('subject', c.subject).set('dns', c.dns).set('uri', c.uri).set('email', c.email);
    if (c.commonName !== undefined) m.set('common_name', c.commonName);
    cert = m;
    certificateMaps.set(c, cert);
  }
  return cert;
}

/** Minimal view of the parsed AST we walk; the generated types are deep unions. */
interface AstNode {
  exprKind: { case: string | undefined; value?: unknown };
}

/**
 * Collects identifiers not bound by an enclosing comprehension, and the
 * names of called functions. Macros such as
 * `exists(g, ...)` expand into comprehensions whose iteration and accumulator
 * variables are in scope only inside the loop.
 */
function collectFreeIdents(node: AstNode | undefined, bound: ReadonlySet<string>, out: Set<string>, calls: Set<string>): void {
  if (node === undefined) return;
  const k = node.exprKind;
  switch (k.case) {
    case 'identExpr': {
      const name = (k.value as { name: string }).name;
      if (!bound.has(name)) out.add(name);
      return;
    }
    case 'selectExpr':
      collectFreeIdents((k.value as { operand?: AstNode }).operand, bound, out, calls);
      return;
    case 'callExpr': {
      const v = k.value as { function: string; target?: AstNode; args: AstNode[] };
      calls.add(v.function);
      collectFreeIdents(v.target, bound, out, calls);
      for (const a of v.args) collectFreeIdents(a, bound, out, calls);
      return;
    }
    case 'listExpr':
      for (const e of (k.value as { elements: AstNode[] }).elements) collectFreeIdents(e, bound, out, calls);
      return;
    case 'structExpr':
      for (const e of (k.value as { entries: Array<{ keyKind: { case: string | undefined; value?: unknown }; value?: AstNode }> }).entries) {
        if (e.keyKind.case === 'mapKey') collectFreeIdents(e.keyKind.value as AstNode, bound, out, calls);
        collectFreeIdents(e.value, bound, out, calls);
      }
      return;
    case 'comprehensionExpr': {
      const c = k.value as {
        iterVar: string; iterVar2: string; accuVar: string;
        iterRange?: AstNode; accuInit?: AstNode; loopCondition?: AstNode; loopStep?: AstNode; result?: AstNode;
      };
      collectFreeIdents(c.iterRange, bound, out, calls);
      collectFreeIdents(c.accuInit, bound, out, calls);
      const inner = new Set(bound);
      inner.add(c.accuVar);
      const loop = new Set(inner);
      loop.add(c.iterVar);
      if (c.iterVar2 !== '') loop.add(c.iterVar2);
      collectFreeIdents(c.loopCondition, loop, out, calls);
      collectFreeIdents(c.loopStep, loop, out, calls);
      collectFreeIdents(c.result, inner, out, calls);
      return;
    }
    default:
      return;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
