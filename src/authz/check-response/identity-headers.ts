/**
 * What an allow tells the upstream: the identity headers it sets, and the
 * `x-bouncer-*` headers it removes so a client can never supply them.
 */
import type { Decision } from '../../core/decision.js';
import { set, type HeaderValueOption } from './message.js';

/** Headers bouncer sets on allowed requests; a client can never supply them. */
export const IDENTITY_HEADERS = {
  tenant: 'x-bouncer-tenant',
  auth: 'x-bouncer-mtls',
  subject: 'x-bouncer-client-subject',
  issuer: 'x-bouncer-client-issuer',
  serial: 'x-bouncer-client-serial',
  fingerprint: 'x-bouncer-client-fingerprint-sha256',
  dns: 'x-bouncer-client-san-dns',
  uri: 'x-bouncer-client-san-uri',
  email: 'x-bouncer-client-san-email',
  requestId: 'x-bouncer-request-id',
  app: 'x-bouncer-app',
  jwt: 'x-bouncer-jwt-assertion',
  userSub: 'x-bouncer-user-sub',
  userEmail: 'x-bouncer-user-email',
  userName: 'x-bouncer-user-name',
  userGroups: 'x-bouncer-user-groups',
  userIdp: 'x-bouncer-user-idp',
  serviceToken: 'x-bouncer-service-token',
  policy: 'x-bouncer-policy',
} as const;

const ALL_IDENTITY_HEADERS: readonly string[] = Object.values(IDENTITY_HEADERS);
const RESERVED_PREFIX = 'x-bouncer-';
/** Each identity header's bit in the mask of headers an allow sets. */
const IDENTITY_BIT: ReadonlyMap<string, number> = new Map(ALL_IDENTITY_HEADERS.map((h, i) => [h, 1 << i]));
/**
 * The identity headers to remove, per mask of those set. An allow sets one of
 * a few dozen combinations, fixed by the decision's shape, so each list is
 * built once instead of per request.
 */
const removalsByMask = new Map<number, readonly string[]>();

function removalsFor(mask: number): readonly string[] {
  let list = removalsByMask.get(mask);
  if (list === undefined) {
    list = ALL_IDENTITY_HEADERS.filter((h) => ((IDENTITY_BIT.get(h) as number) & mask) === 0);
    removalsByMask.set(mask, list);
  }
  return list;
}

const MTLS_LABEL: Readonly<Record<string, string>> = {
  mtls_verified: 'verified',
  mtls_optional_absent: 'absent',
  mtls_off: 'off',
  path_exempt: 'exempt',
};

export type AllowDecision = Extract<Decision, { allow: true }>;

/** The headers an allow sets besides the request id, in the order they are sent. */
export function identityHeaders(decision: AllowDecision): HeaderValueOption[] {
  const headers: HeaderValueOption[] = [];
  if (decision.tenant !== undefined) {
    headers.push(set(IDENTITY_HEADERS.tenant, decision.tenant), set(IDENTITY_HEADERS.auth, MTLS_LABEL[decision.reason] ?? (decision.identity ? 'verified' : 'absent')));
  }
  if (decision.app !== undefined) headers.push(set(IDENTITY_HEADERS.app, decision.app));
  if (decision.policy !== undefined) headers.push(set(IDENTITY_HEADERS.policy, decision.policy));
  if (decision.serviceToken !== undefined) headers.push(set(IDENTITY_HEADERS.serviceToken, decision.serviceToken));
  const user = decision.user;
  if (user) {
    headers.push(set(IDENTITY_HEADERS.jwt, user.token), set(IDENTITY_HEADERS.userSub, user.session.sub), set(IDENTITY_HEADERS.userIdp, user.session.idp));
    if (user.session.email !== undefined) headers.push(set(IDENTITY_HEADERS.userEmail, user.session.email));
    if (user.session.name !== undefined) headers.push(set(IDENTITY_HEADERS.userName, user.session.name));
    if (user.session.groups.length) headers.push(set(IDENTITY_HEADERS.userGroups, user.session.groups.join(',')));
  }
  const id = decision.identity;
  if (id) {
    headers.push(
      set(IDENTITY_HEADERS.subject, id.subject),
      set(IDENTITY_HEADERS.issuer, id.issuer),
      set(IDENTITY_HEADERS.serial, id.serial),
      set(IDENTITY_HEADERS.fingerprint, id.fingerprint256),
    );
    if (id.dns.length) headers.push(set(IDENTITY_HEADERS.dns, id.dns.join(',')));
    if (id.uri.length) headers.push(set(IDENTITY_HEADERS.uri, id.uri.join(',')));
    if (id.email.length) headers.push(set(IDENTITY_HEADERS.email, id.email.join(',')));
  }
  return headers;
}

const REQUEST_ID_BIT = IDENTITY_BIT.get(IDENTITY_HEADERS.requestId) as number;

/**
 * The identity headers an allow must remove (those it does not set itself:
 * Envoy applies removals after additions). The request id is always set.
 */
export function knownRemovals(headers: readonly HeaderValueOption[]): readonly string[] {
  let mask = REQUEST_ID_BIT;
  for (const h of headers) mask |= IDENTITY_BIT.get(h.header.key) ?? 0;
  return removalsFor(mask);
}

/** Any other `x-bouncer-*` header the client sent; identity headers are covered by {@link knownRemovals}. */
export function forgedHeaders(requestHeaders: Readonly<Record<string, string>>): string[] | undefined {
  let forged: string[] | undefined;
  for (const name in requestHeaders) {
    if (name.startsWith(RESERVED_PREFIX) && !IDENTITY_BIT.has(name)) (forged ??= []).push(name);
  }
  return forged;
}
