/**
 * Scopes of admin tokens. A token carries a list of them; each operation
 * needs exactly one (or none, for the OpenAPI document and `/healthz`).
 * `admin` stands for every scope, including ones added later.
 */
export const ADMIN_SCOPES = {
  'tenants:read': 'list and read tenants, their hostnames, CA bundles and CRLs',
  'tenants:write': 'create, replace and delete tenants; add and remove hostnames; replace CA bundles, CRLs and mTLS settings',
  'sessions:revoke': 'revoke login sessions, one by id or every session of a user',
  'decisions:read': 'query recent access decisions',
  'config:read': 'read the apps, policies, identity providers, service token ids and admin token ids of the config in force (never secrets)',
  'audit:read': 'read the audit trail of admin API changes',
  'config:write': 'create, replace and delete apps (with their policies), identity providers and service tokens kept in the database (store.postgres)',
  'hostnames:read': 'list and read customer hostnames: state, reason, certificate dates and chain (never keys)',
  'hostnames:write': 'add and remove customer hostnames, upload their certificates, retry failed ones',
  admin: 'every scope',
} as const;

export type AdminScope = keyof typeof ADMIN_SCOPES;

export const ADMIN_SCOPE_NAMES = Object.keys(ADMIN_SCOPES) as AdminScope[];

/** Whether a token with `granted` scopes may run an operation that needs `needed`. */
export function grants(granted: readonly string[], needed: AdminScope): boolean {
  return granted.includes('admin') || granted.includes(needed);
}

export function isAdminScope(value: string): value is AdminScope {
  return Object.hasOwn(ADMIN_SCOPES, value);
}
