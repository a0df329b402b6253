import { createServer } from 'node:http';

/**
 * A small protected application for the demo and docker-compose: it answers
 * every request with the identity headers bouncer added, so the effect of each
 * decision can be seen from curl.
 */
export function startEchoUpstream(host: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const identity = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.startsWith('x-bouncer-') || k === 'x-forwarded-client-cert'));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify({ upstream: 'demo-app', method: req.method, path: req.url, host: req.headers.host, identity }, null, 2)}\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : port,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}

// Run directly (docker-compose's upstream service): `node dist/src/demo/upstream.js`.
if (process.argv[1] && /demo[\\/]upstream\.js$/.test(process.argv[1])) {
  const port = Number(process.env.PORT ?? 8081);
  const host = process.env.HOST ?? '0.0.0.0';
  startEchoUpstream(host, port).then(
    (u) => process.stdout.write(`demo upstream listening on ${host}:${u.port}\n`),
    (err: unknown) => {
      process.stderr.write(`demo upstream failed to start: ${String(err)}\n`);
      process.exit(1);
    },
  );
  process.on('SIGTERM', () => process.exit(0));
}
