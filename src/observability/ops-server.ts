/**
 * The operations endpoints (`/metrics`, `/readyz`, `/healthz`) on their own
 * small listener, for a process that runs ext_authz only (`serve --only
 * authz`) and so has no login service to carry them.
 */
import { createServer, type Server } from 'node:http';

export type OpsRoute = () => Promise<{ status: number; contentType: string; body: string }>;

export interface OpsServer {
  listen(host: string, port: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * @example
 * ```ts
 * const ops = createOpsServer({ '/metrics': metricsRoute, '/readyz': readyRoute });
 * const port = await ops.listen('127.0.0.1', 8081);
 * ```
 */
export function createOpsServer(routes: Readonly<Record<string, OpsRoute>>): OpsServer {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = path === '/healthz' ? async () => ({ status: 200, contentType: 'application/json', body: '{"status":"ok"}' }) : routes[path];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'application/json', allow: 'GET, HEAD' }).end('{"error":"method_not_allowed"}');
      return;
    }
    if (route === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
      return;
    }
    route().then(
      (r) => res.writeHead(r.status, { 'content-type': r.contentType }).end(req.method === 'HEAD' ? undefined : r.body),
      () => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal_error"}'),
    );
  });
  server.keepAliveTimeout = 5_000;
  return {
    listen(host, port) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const addr = server.address();
          resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
