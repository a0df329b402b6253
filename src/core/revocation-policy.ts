import type { ParsedCert } from './cert-parse.js';
import type { RevocationFailure } from './reasons.js';
import type { Tenant } from './tenant.js';

export type { RevocationMode, RevocationPolicy } from './revocation-mode.js';

/**
 * The revocation answer for a verified chain, from what is already known
 * (never from the network on the caller's time). `pending` is a denial that
 * may turn into an answer: the caller may wait for `settled` once and ask again.
 */
export type RevocationAnswer =
  | { readonly kind: 'pass' }
  | {
      readonly kind: 'deny';
      readonly reason: RevocationFailure;
      readonly detail: string;
      readonly settled?: Promise<void> | undefined;
    };

/**
 * What the decision core asks about revocation. Implemented outside the core
 * (src/revocation) over caches filled in the background; `check` must answer
 * synchronously from memory.
 */
export interface RevocationView {
  check(tenant: Tenant, chain: readonly ParsedCert[], nowMs: number): RevocationAnswer;
}
