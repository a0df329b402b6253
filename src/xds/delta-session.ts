import type { XdsTypeUrl } from './protos.js';
import { TYPE_URLS } from './protos.js';
import type { BuiltResource } from './resources.js';

/** The parts of a DeltaDiscoveryRequest the session reads (decoded with snake_case keys). */
export interface DeltaRequest {
  readonly type_url?: string;
  readonly resource_names_subscribe?: readonly string[];
  readonly resource_names_unsubscribe?: readonly string[];
  readonly initial_resource_versions?: Readonly<Record<string, string>>;
  readonly response_nonce?: string;
  readonly error_detail?: { readonly code?: number; readonly message?: string } | null;
}

export interface DeltaResponse {
  readonly system_version_info: string;
  readonly type_url: string;
  readonly nonce: string;
  readonly resources: ReadonlyArray<{ readonly name: string; readonly version: string; readonly resource: { readonly type_url: string; readonly value: Uint8Array } }>;
  readonly removed_resources: readonly string[];
}

/** What the session reads resources from (an XdsSnapshot). */
export interface ResourceSource {
  get(typeUrl: XdsTypeUrl, name: string): BuiltResource | undefined;
  names(typeUrl: XdsTypeUrl): Iterable<string>;
  systemVersion(typeUrl: XdsTypeUrl): string;
}

/** One resource Envoy refused, as reported by the session. */
export interface Rejection {
  readonly typeUrl: string;
  readonly name: string;
  readonly version: string;
  readonly message: string;
}

export interface DeltaSessionEvents {
  /** A response was ACKed: these resources at these versions are applied. */
  acked?(typeUrl: string, resources: ReadonlyArray<{ name: string; version: string }>): void;
  /** A resource, isolated in a response of its own, was NACKed. */
  rejected?(r: Rejection): void;
  /** A request bouncer cannot serve (unknown type, unknown nonce); the stream goes on. */
  ignored?(typeUrl: string, why: string): void;
}

/** Why a request's type is refused: bouncer serves listeners and secrets only. */
const SERVED_TYPES = new Set<string>([TYPE_URLS.listener, TYPE_URLS.cluster, TYPE_URLS.secret]);

interface InFlight {
  readonly typeUrl: XdsTypeUrl;
  readonly sent: ReadonlyArray<{ name: string; version: string }>;
  readonly removed: readonly string[];
}

interface TypeState {
  wildcard: boolean;
  readonly subscribed: Set<string>;
  /** What Envoy has, or was last sent, per resource: name → version. */
  readonly known: Map<string, string>;
  /** Names Envoy asked for that do not exist and were reported removed. */
  readonly toldAbsent: Set<string>;
}

/**
 * The server's side of one incremental (delta) ADS stream, free of gRPC so that it
 * can be driven by a fake stream in tests. It keeps, per type, what Envoy subscribed
 * to and which version of each resource Envoy has, sends only differences, and
 * splits a NACKed response in halves until the refused resource stands alone, so
 * that one bad resource never holds back the others.
 */
export class DeltaSession {
  private readonly types = new Map<XdsTypeUrl, TypeState>();
  private readonly inFlight = new Map<string, InFlight>();
  private nonceCounter = 0;

  constructor(
    private readonly source: ResourceSource,
    private readonly send: (r: DeltaResponse) => void,
    /** Resources per response, by type (types not named: 1). */
    private readonly maxPerResponse: Readonly<Record<string, number>>,
    private readonly events: DeltaSessionEvents = {},
    /** Distinguishes this stream's nonces from another's in logs. */
    private readonly noncePrefix = '',
  ) {}

  /** Responses sent and not yet answered. */
  pending(): number {
    return this.inFlight.size;
  }

  onRequest(req: DeltaRequest): void {
    const typeUrl = req.type_url ?? '';
    if (!SERVED_TYPES.has(typeUrl)) {
      this.events.ignored?.(typeUrl, 'bouncer serves listeners, clusters and secrets only');
      return;
    }
    const t = typeUrl as XdsTypeUrl;
    let state = this.types.get(t);
    const first = state === undefined;
    if (!state) {
      state = { wildcard: false, subscribed: new Set(), known: new Map(), toldAbsent: new Set() };
      this.types.set(t, state);
      for (const [name, version] of Object.entries(req.initial_resource_versions ?? {})) state.known.set(name, version);
      // The first request of a type with no names subscribes to everything (the legacy wildcard).
      if ((req.resource_names_subscribe ?? []).length === 0 && t !== TYPE_URLS.secret) state.wildcard = true;
    }
    const touched: string[] = [];
    for (const name of req.resource_names_subscribe ?? []) {
      if (name === '*') state.wildcard = true;
      else {
        state.subscribed.add(name);
        touched.push(name);
      }
    }
    for (const name of req.resource_names_unsubscribe ?? []) {
      if (name === '*') state.wildcard = false;
      else {
        state.subscribed.delete(name);
        state.toldAbsent.delete(name);
        // Envoy forgets an unsubscribed resource; a later subscription must send it again.
        state.known.delete(name);
      }
    }
    if (req.response_nonce) this.answer(req);
    // A first wildcard request is always answered, even with nothing to send: Envoy's
    // initialisation waits for it (clusters before listeners), and in the chains mode
    // bouncer serves no cluster at all.
    if (first && state.wildcard) this.push(t, [...this.source.names(t), ...state.known.keys()], true);
    else if (touched.length > 0) this.push(t, touched);
  }

  /** The snapshot changed these names: send what this stream is interested in. */
  onChange(typeUrl: XdsTypeUrl, names: readonly string[]): void {
    if (this.types.has(typeUrl)) this.push(typeUrl, names);
  }

  private answer(req: DeltaRequest): void {
    const nonce = req.response_nonce as string;
    const flight = this.inFlight.get(nonce);
    if (!flight) {
      this.events.ignored?.(req.type_url ?? '', `answer to an unknown nonce ${nonce}`);
      return;
    }
    this.inFlight.delete(nonce);
    const detail = req.error_detail;
    if (!detail || (detail.code ?? 0) === 0 && !detail.message) {
      this.events.acked?.(flight.typeUrl, flight.sent);
      return;
    }
    const message = detail.message ?? `error code ${String(detail.code)}`;
    if (flight.sent.length === 1) {
      const only = flight.sent[0] as { name: string; version: string };
      this.events.rejected?.({ typeUrl: flight.typeUrl, name: only.name, version: only.version, message });
      return;
    }
    if (flight.sent.length === 0) {
      this.events.ignored?.(flight.typeUrl, `a response of removals only was refused: ${message}`);
      return;
    }
    // Resend in halves, each answered on its own: the good resources get applied, the bad one is found.
    const half = Math.ceil(flight.sent.length / 2);
    for (const part of [flight.sent.slice(0, half), flight.sent.slice(half)]) {
      const current = part.filter((p) => this.source.get(flight.typeUrl, p.name)?.version === p.version);
      if (current.length > 0) this.respond(flight.typeUrl, current.map((p) => this.source.get(flight.typeUrl, p.name) as BuiltResource), []);
    }
  }

  private interested(state: TypeState, name: string): boolean {
    return state.wildcard || state.subscribed.has(name);
  }

  /** Sends the differences between the snapshot and what Envoy has, for these names. */
  private push(typeUrl: XdsTypeUrl, names: Iterable<string>, answerEmpty = false): void {
    const state = this.types.get(typeUrl);
    if (!state) return;
    const updates: BuiltResource[] = [];
    const removed: string[] = [];
    const seen = new Set<string>();
    for (const name of names) {
      if (seen.has(name)) continue;
      seen.add(name);
      const r = this.source.get(typeUrl, name);
      if (!this.interested(state, name)) continue;
      if (r) {
        state.toldAbsent.delete(name);
        if (state.known.get(name) !== r.version) updates.push(r);
      } else if (state.known.has(name) || (!state.wildcard && !state.toldAbsent.has(name))) {
        // Gone, or asked for and never there: say so, so that Envoy stops waiting for it.
        state.known.delete(name);
        state.toldAbsent.add(name);
        removed.push(name);
      }
    }
    const per = Math.max(1, this.maxPerResponse[typeUrl] ?? 1);
    if (answerEmpty && updates.length === 0 && removed.length === 0) this.respond(typeUrl, [], []);
    for (let i = 0; i < Math.max(updates.length, removed.length > 0 ? 1 : 0); i += per) {
      this.respond(typeUrl, updates.slice(i, i + per), i === 0 ? removed : []);
    }
  }

  private respond(typeUrl: XdsTypeUrl, resources: readonly BuiltResource[], removed: readonly string[]): void {
    const state = this.types.get(typeUrl);
    if (!state) return;
    this.nonceCounter += 1;
    const nonce = `${this.noncePrefix}${this.nonceCounter.toString(36)}`;
    for (const r of resources) state.known.set(r.name, r.version);
    this.inFlight.set(nonce, { typeUrl, sent: resources.map((r) => ({ name: r.name, version: r.version })), removed });
    this.send({
      system_version_info: this.source.systemVersion(typeUrl),
      type_url: typeUrl,
      nonce,
      resources: resources.map((r) => ({ name: r.name, version: r.version, resource: { type_url: typeUrl, value: r.bytes } })),
      removed_resources: [...removed],
    });
  }
}
