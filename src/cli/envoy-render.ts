import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Command } from 'commander';
import { HOSTNAME_DEFAULTS, XDS_DEFAULTS } from '../config/defaults.js';
import { BouncerError } from '../core/errors.js';
import { ENVOY_RENDER_DEFAULTS, renderEnvoyYaml } from '../envoy/render.js';
import { renderXdsBootstrapYaml } from '../envoy/render-xds.js';

function hostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new BouncerError('ERR_CLI_USAGE', `${flag} must be HOST:PORT, got "${value}"`);
  return { host: (m[1] ?? '').replace(/^\[|\]$/g, ''), port };
}

/** `https://host[:port]` of `--public-url`, checked as the config checks `auth.public_url`. */
function publicUrl(value: string): { host: string; port: number } {
  const u = URL.canParse(value) ? new URL(value) : undefined;
  if (u === undefined || u.protocol !== 'https:' || u.username !== '' || u.password !== '' || (u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.hash !== '') {
    throw new BouncerError('ERR_CLI_USAGE', `--public-url must be https://HOST[:PORT] with no path, query or user info, got "${value}"`);
  }
  return { host: u.hostname.replace(/\.$/, ''), port: u.port === '' ? 443 : Number(u.port) };
}

/** `bouncer envoy render`: print (or write) the Envoy bootstrap for given addresses. */
export function envoyRenderCommand(): Command {
  const d = ENVOY_RENDER_DEFAULTS;
  return new Command('render')
    .description('print the Envoy config that fronts the tenants and calls bouncer (validate it with envoy --mode validate)')
    .option('--listen <host:port>', 'tenant TLS listener', `${d.listenHost}:${d.listenPort}`)
    .option('--admin <host:port>', 'Envoy admin interface (keep it on loopback)', `${d.adminHost}:${d.adminPort}`)
    .option('--authz <host:port[,host:port...]>', "bouncer's gRPC ext_authz address; several (comma-separated) for replicas", `${d.authzHost}:${d.authzPort}`)
    .option('--authz-workers <n>', 'bouncer processes (serve --workers n) on consecutive ports from --authz', String(d.authzWorkers))
    .option('--upstream <host:port>', 'the protected application', `${d.upstreamHost}:${d.upstreamPort}`)
    .option('--cert <file>', "server certificate chain Envoy presents (PEM, path as Envoy sees it)", d.serverCertPath)
    .option('--key <file>', 'its private key (PEM, path as Envoy sees it)', d.serverKeyPath)
    .option('--timeout-ms <ms>', 'ext_authz call timeout', String(d.authzTimeoutMs))
    .option('--status-on-error <code>', 'HTTP status when bouncer is unreachable (403, 500, 502, 503, 504)', String(d.statusOnError))
    .option('--public-url <url>', "the login service's public URL (bouncer config auth.public_url, https://<auth.domain>[:port]); gives --auth-domain, and --listen's port unless --listen is given")
    .option('--auth-domain <host>', "the login service's hostname (bouncer config auth.domain); routes its login paths to bouncer")
    .option('--auth-http <host:port[,host:port...]>', "bouncer's HTTP address (config listen.http), used with --auth-domain; several for replicas", '127.0.0.1:8080')
    .option('--xds', "the small bootstrap of an Envoy that takes its listeners and certificates from bouncer over xDS (docs/xds.md)")
    .option('--xds-server <host:port>', "with --xds: bouncer's ADS server (config xds.listen)", `${XDS_DEFAULTS.listen.host}:${XDS_DEFAULTS.listen.port}`)
    .option('--node-id <id>', 'with --xds: this Envoy\'s node id, unique per Envoy (default: the host name)')
    .option('--node-cluster <name>', 'with --xds: the node cluster', XDS_DEFAULTS.nodeCluster)
    .option('--acme <host:port>', "with --xds: bouncer's web service, answering ACME HTTP-01 challenges (config listen.http)", '127.0.0.1:8080')
    .option('--acme-tls <host:port>', "with --xds: bouncer's ACME TLS-ALPN-01 responder (config hostnames.acme.tls_alpn_listen)", `${HOSTNAME_DEFAULTS.tlsAlpnListen.host}:${HOSTNAME_DEFAULTS.tlsAlpnListen.port}`)
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .action((opts: Record<string, string>, cmd: Command) => {
      if (opts.xds) {
        const yaml = renderXds(opts, cmd);
        if (opts.out) writeFileSync(opts.out, yaml);
        else process.stdout.write(yaml);
        return;
      }
      const pub = opts.publicUrl !== undefined ? publicUrl(opts.publicUrl) : undefined;
      if (pub !== undefined && opts.authDomain !== undefined && opts.authDomain.toLowerCase() !== pub.host) {
        throw new BouncerError('ERR_CLI_USAGE', `--auth-domain ${opts.authDomain} is not the host of --public-url ${opts.publicUrl ?? ''}`);
      }
      if (pub !== undefined) opts.authDomain = pub.host;
      const listen = hostPort(opts.listen ?? '', '--listen');
      // Browsers are sent to the public URL's port: Envoy listens there unless told otherwise.
      if (pub !== undefined && cmd.getOptionValueSource('listen') === 'default') listen.port = pub.port;
      else if (pub !== undefined && listen.port !== pub.port) {
        process.stderr.write(`warning: sign-in redirects go to port ${pub.port} (--public-url) but Envoy listens on ${listen.port}; fine only if something in front maps one to the other\n`);
      }
      const admin = hostPort(opts.admin ?? '', '--admin');
      const authzAll = (opts.authz ?? '').split(',').map((a) => hostPort(a.trim(), '--authz'));
      const authz = authzAll[0] as { host: string; port: number };
      const upstream = hostPort(opts.upstream ?? '', '--upstream');
      const authHttpAll = (opts.authHttp ?? '').split(',').map((a) => hostPort(a.trim(), '--auth-http'));
      const authHttp = authHttpAll[0] as { host: string; port: number };
      const yaml = renderEnvoyYaml({
        listenHost: listen.host,
        listenPort: listen.port,
        adminHost: admin.host,
        adminPort: admin.port,
        authzHost: authz.host,
        authzPort: authz.port,
        authzWorkers: Number(opts.authzWorkers),
        upstreamHost: upstream.host,
        upstreamPort: upstream.port,
        serverCertPath: opts.cert ?? d.serverCertPath,
        serverKeyPath: opts.key ?? d.serverKeyPath,
        authzTimeoutMs: Number(opts.timeoutMs),
        statusOnError: Number(opts.statusOnError),
        ...(authzAll.length > 1 ? { authzEndpoints: authzAll } : {}),
        ...(opts.authDomain
          ? { authDomain: opts.authDomain.toLowerCase(), authHttpHost: authHttp.host, authHttpPort: authHttp.port, ...(authHttpAll.length > 1 ? { authHttpEndpoints: authHttpAll } : {}) }
          : {}),
      });
      if (opts.out) writeFileSync(opts.out, yaml);
      else process.stdout.write(yaml);
    });
}

/** Options of the static config that bouncer serves over xDS instead: given with --xds, they would be silently ignored. */
const STATIC_ONLY = ['listen', 'cert', 'key', 'publicUrl', 'authDomain', 'authHttp'] as const;

function renderXds(opts: Record<string, string>, cmd: Command): string {
  const given = STATIC_ONLY.filter((o) => cmd.getOptionValueSource(o) === 'cli');
  if (given.length > 0) {
    const flags = given.map((o) => `--${o.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ');
    throw new BouncerError('ERR_CLI_USAGE', `${flags} do not apply with --xds: the public listener and its certificates come from bouncer (config section xds)`);
  }
  const xds = hostPort(opts.xdsServer ?? '', '--xds-server');
  const admin = hostPort(opts.admin ?? '', '--admin');
  const authzAll = (opts.authz ?? '').split(',').map((a) => hostPort(a.trim(), '--authz'));
  const authz = authzAll[0] as { host: string; port: number };
  const upstream = hostPort(opts.upstream ?? '', '--upstream');
  const acme = hostPort(opts.acme ?? '', '--acme');
  const acmeTls = hostPort(opts.acmeTls ?? '', '--acme-tls');
  return renderXdsBootstrapYaml({
    nodeId: opts.nodeId ?? hostname().replace(/[^A-Za-z0-9._:-]/g, '-').slice(0, 128),
    nodeCluster: opts.nodeCluster ?? XDS_DEFAULTS.nodeCluster,
    xdsHost: xds.host,
    xdsPort: xds.port,
    adminHost: admin.host,
    adminPort: admin.port,
    authzHost: authz.host,
    authzPort: authz.port,
    authzWorkers: Number(opts.authzWorkers),
    ...(authzAll.length > 1 ? { authzEndpoints: authzAll } : {}),
    upstreamHost: upstream.host,
    upstreamPort: upstream.port,
    acmeHost: acme.host,
    acmePort: acme.port,
    acmeTlsHost: acmeTls.host,
    acmeTlsPort: acmeTls.port,
  });
}
