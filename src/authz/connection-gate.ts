/**
 * The ext_authz port's listening socket, for either transport: a plain TCP
 * server that decides at accept, before any HTTP/2 work, whether a
 * connection is served, then hands it to the transport's HTTP/2 server
 * (`emit('connection')` for node:http2, grpc-js's connection injector).
 *
 * Two limits close a connection here: `max_connections` across every source
 * (net.Server's own cap, which closes it before a socket object exists) and
 * `max_connections_per_source` (source-limits.ts). The second is why the
 * transport does not let node:http2 listen itself: a 'connection' listener
 * added beside http2's cannot stop http2 from setting up a session on the
 * socket, so a refused connection would still cost that work.
 */
import net from 'node:net';
import { SourceLimiter, sourceKey } from './source-limits.js';
import type { TransportEvents, TransportLimits } from './transport-limits.js';

export type GateLimits = Pick<TransportLimits, 'maxConnections' | 'maxConnectionsPerSource' | 'sourceIpv6PrefixBits' | 'trustedSources'>;

export class ConnectionGate {
  readonly listener: net.Server;
  readonly sources: SourceLimiter;

  constructor(
    limits: GateLimits,
    private readonly events: TransportEvents | undefined,
    /** Called with each connection let through; its source is released when the socket closes. */
    private readonly accept: (socket: net.Socket) => void,
  ) {
    this.sources = new SourceLimiter(limits.maxConnectionsPerSource, limits.sourceIpv6PrefixBits, limits.trustedSources);
    this.listener = net.createServer((socket) => this.onConnection(socket));
    this.listener.maxConnections = limits.maxConnections;
    this.listener.on('drop', (data) => {
      const address = data?.remoteAddress;
      this.events?.connectionDropped('max_connections', address === undefined ? undefined : sourceKey(address, limits.sourceIpv6PrefixBits));
    });
  }

  private onConnection(socket: net.Socket): void {
    const address = socket.remoteAddress;
    // No address: the peer is already gone, and the socket with it.
    if (address === undefined) {
      socket.destroy();
      return;
    }
    const admission = this.sources.admit(address);
    if (!admission.admitted) {
      // RST rather than FIN: the client learns at once, and this side keeps no TIME_WAIT for it.
      socket.resetAndDestroy();
      this.events?.connectionDropped('per_source', admission.key);
      return;
    }
    const key = admission.key;
    if (key !== undefined) socket.once('close', () => this.sources.release(key));
    this.accept(socket);
  }

  get listening(): boolean {
    return this.listener.listening;
  }

  /** Binds and resolves to the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.listener.once('error', onError);
      this.listener.listen(port, host, () => {
        this.listener.off('error', onError);
        const address = this.listener.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  /** Stops accepting; `done` is called once every accepted connection has closed too. */
  close(done: () => void): void {
    if (this.listener.listening) this.listener.close(() => done());
    else done();
  }
}
