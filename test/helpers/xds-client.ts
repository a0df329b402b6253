// A delta ADS client over grpc-js, standing in for Envoy where the test needs to
// see exactly what bouncer's xDS server sends: versions, nonces, removals, and
// what it answers to an ACK, a NACK or a reconnect with initial_resource_versions.
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { xdsProtoIncludeDirs } from '../../src/xds/protos.js';

export interface DeltaResponseMessage {
  readonly system_version_info: string;
  readonly type_url: string;
  readonly nonce: string;
  readonly resources?: ReadonlyArray<{ readonly name: string; readonly version: string }>;
  readonly removed_resources?: readonly string[];
}

export interface DeltaRequestMessage {
  readonly type_url: string;
  readonly resource_names_subscribe?: readonly string[];
  readonly resource_names_unsubscribe?: readonly string[];
  readonly initial_resource_versions?: Readonly<Record<string, string>>;
  readonly response_nonce?: string;
  readonly error_detail?: { readonly code: number; readonly message: string };
}

type Stream = grpc.ClientDuplexStream<Record<string, unknown>, DeltaResponseMessage>;
type AdsClient = grpc.Client & { DeltaAggregatedResources(): Stream };

let ctor: (new (address: string, credentials: grpc.ChannelCredentials) => AdsClient) | undefined;

function adsClientCtor(): new (address: string, credentials: grpc.ChannelCredentials) => AdsClient {
  if (ctor) return ctor;
  const def = loadSync('envoy/service/discovery/v3/ads.proto', { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true, includeDirs: xdsProtoIncludeDirs() });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: new (a: string, c: grpc.ChannelCredentials) => AdsClient } } } } };
  ctor = pkg.envoy.service.discovery.v3.AggregatedDiscoveryService;
  return ctor;
}

/** One delta ADS stream; responses are queued and taken in order with `next`. */
export class DeltaXdsClient {
  private readonly client: AdsClient;
  private readonly stream: Stream;
  private readonly queue: DeltaResponseMessage[] = [];
  private readonly waiters: Array<(r: DeltaResponseMessage) => void> = [];
  private first = true;
  closed = false;

  constructor(
    port: number,
    private readonly nodeId: string,
  ) {
    const Client = adsClientCtor();
    this.client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    this.stream = this.client.DeltaAggregatedResources();
    this.stream.on('data', (r: DeltaResponseMessage) => {
      const w = this.waiters.shift();
      if (w) w(r);
      else this.queue.push(r);
    });
    this.stream.on('error', () => {
      this.closed = true;
    });
    this.stream.on('end', () => {
      this.closed = true;
    });
  }

  send(req: DeltaRequestMessage): void {
    // The node goes on the first request of the stream, as Envoy sends it.
    const node = this.first ? { node: { id: this.nodeId, cluster: 'edge' } } : {};
    this.first = false;
    this.stream.write({ ...node, ...req });
  }

  /** The next response, in order of arrival. */
  next(): Promise<DeltaResponseMessage> {
    const r = this.queue.shift();
    if (r) return Promise.resolve(r);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Responses already received and not yet taken. */
  queued(): number {
    return this.queue.length;
  }

  ack(r: DeltaResponseMessage): void {
    this.send({ type_url: r.type_url, response_nonce: r.nonce });
  }

  nack(r: DeltaResponseMessage, message: string): void {
    this.send({ type_url: r.type_url, response_nonce: r.nonce, error_detail: { code: 3, message } });
  }

  close(): void {
    this.stream.end();
    this.client.close();
  }
}
