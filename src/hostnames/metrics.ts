/**
 * Customer hostnames in Prometheus: how many are in each state (and failed
 * for which reason), every state change, and ACME order outcomes. Labels are
 * states and reason codes only, never hostnames or tenants, so ten thousand
 * hostnames stay a handful of series; the admin API says which hostname.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { HostnameState } from './lifecycle.js';
import type { StateCount } from './store.js';

export interface HostnameMetrics {
  /** A hostname entered `state`; `reason` is empty unless it failed or a renewal failed. */
  transition(state: HostnameState, reason: string | null): void;
  /** An ACME order ended: `issued`, or the reason it failed. */
  order(result: string): void;
  /** An upload was checked: `accepted`, or the reason it was refused. */
  upload(result: string): void;
  /** A connection to the TLS-ALPN-01 responder ended: `answered`, or why it was closed (TlsAlpnResult). */
  tlsAlpn(result: string): void;
}

export function createHostnameMetrics(registry: Registry, counts: () => Promise<readonly StateCount[]>, served: () => number): HostnameMetrics {
  // Gauges registered for their scrapes only: each reads its value when collected.
  new Gauge({
    name: 'bouncer_custom_hostnames',
    help: 'Customer hostnames by lifecycle state and failure reason (empty when none).',
    labelNames: ['state', 'reason'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const c of await counts()) this.set({ state: c.state, reason: c.reason ?? '' }, c.count);
    },
  });
  new Gauge({
    name: 'bouncer_custom_hostnames_served',
    help: 'Customer hostnames with a certificate ready for Envoy, on this replica.',
    registers: [registry],
    collect() {
      this.set(served());
    },
  });
  const transitions = new Counter({ name: 'bouncer_custom_hostname_transitions_total', help: 'Customer hostname state changes, by new state and reason.', labelNames: ['state', 'reason'] as const, registers: [registry] });
  const orders = new Counter({ name: 'bouncer_acme_orders_total', help: 'ACME orders by result: issued, or the failure reason.', labelNames: ['result'] as const, registers: [registry] });
  const uploads = new Counter({ name: 'bouncer_certificate_uploads_total', help: 'Uploaded certificates by result: accepted, or the reason they were refused.', labelNames: ['result'] as const, registers: [registry] });
  const tlsAlpn = new Counter({
    name: 'bouncer_acme_tls_alpn_connections_total',
    help: 'Connections to the ACME TLS-ALPN-01 responder by result: answered, or why they were closed without a TLS answer.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  return {
    transition: (state, reason) => transitions.inc({ state, reason: reason ?? '' }),
    order: (result) => orders.inc({ result }),
    upload: (result) => uploads.inc({ result }),
    tlsAlpn: (result) => tlsAlpn.inc({ result }),
  };
}
