import { Counter, Gauge, type Registry } from 'prom-client';

/** The xDS server's metrics; labels are type names and results only (never hostnames: unbounded). */
export interface XdsMetrics {
  /** Envoy streams connected now. */
  readonly streams: Gauge;
  /** Responses sent, by resource type. */
  readonly responses: Counter<'type'>;
  /** Resources sent, by type. */
  readonly resourcesSent: Counter<'type'>;
  /** Envoy's answers, by type and result (ack, nack). */
  readonly answers: Counter<'type' | 'result'>;
  /** Resources Envoy refused (isolated), by type; each is in the status view and the log. */
  readonly rejected: Counter<'type'>;
  /** Hostnames with a filter chain in the listener. */
  readonly hostnamesServed: Gauge;
  /** Hostnames bouncer itself keeps out of Envoy (bad name or certificate data), plus those Envoy refused. */
  readonly hostnamesHeldBack: Gauge;
}

/** Registers the xDS metrics on `registry`; call once per registry. */
export function createXdsMetrics(registry: Registry): XdsMetrics {
  const r = [registry];
  return {
    streams: new Gauge({ name: 'bouncer_xds_streams', help: 'Envoy ADS streams connected to this bouncer.', registers: r }),
    responses: new Counter({ name: 'bouncer_xds_responses_total', help: 'xDS responses sent, by resource type.', labelNames: ['type'], registers: r }),
    resourcesSent: new Counter({ name: 'bouncer_xds_resources_sent_total', help: 'xDS resources sent, by resource type.', labelNames: ['type'], registers: r }),
    answers: new Counter({ name: 'bouncer_xds_answers_total', help: "Envoy's ACKs and NACKs of xDS responses, by type.", labelNames: ['type', 'result'], registers: r }),
    rejected: new Counter({ name: 'bouncer_xds_rejected_resources_total', help: 'xDS resources Envoy refused, isolated one by one, by type.', labelNames: ['type'], registers: r }),
    hostnamesServed: new Gauge({ name: 'bouncer_xds_hostnames_served', help: 'Customer hostnames with a filter chain in the public listener.', registers: r }),
    hostnamesHeldBack: new Gauge({ name: 'bouncer_xds_hostnames_held_back', help: 'Customer hostnames kept out of the listener: invalid data, or a certificate Envoy refused.', registers: r }),
  };
}

/** The short name of a type URL, for labels and logs. */
export function typeLabel(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('.') + 1).toLowerCase() || 'unknown';
}
