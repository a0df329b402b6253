import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderXdsBootstrapYaml, type XdsBootstrapOptions } from '../../src/envoy/render-xds.js';
import { envoyBinary, envoyProcess } from './envoy.js';
import { freePort, waitFor } from './ports.js';

export interface XdsEnvoy {
  readonly adminPort: number;
  logs(): string;
  /** One counter or gauge from Envoy's admin /stats. */
  stat(name: string): Promise<number | undefined>;
  /** Envoy's admin endpoint (GET). */
  admin(path: string): Promise<string>;
  /** Exits by itself? (It must not, when bouncer goes away.) */
  exited(): boolean;
  stop(): Promise<void>;
}

/** Starts a real Envoy whose only configuration source is bouncer's xDS server; waits until admin answers. */
export async function startXdsEnvoy(dir: string, opts: Partial<XdsBootstrapOptions> & Pick<XdsBootstrapOptions, 'nodeId' | 'xdsPort'>): Promise<XdsEnvoy> {
  const adminPort = await freePort();
  const configPath = join(dir, `envoy-xds-${adminPort}.yaml`);
  writeFileSync(
    configPath,
    renderXdsBootstrapYaml({ adminHost: '127.0.0.1', xdsHost: '127.0.0.1', authzHost: '127.0.0.1', upstreamHost: '127.0.0.1', acmeHost: '127.0.0.1', ...opts, adminPort }),
  );
  return startEnvoyFromBootstrap(configPath, adminPort);
}

/** Starts a real Envoy from a bootstrap file already written (by `bouncer envoy render --xds`, say) whose admin listens on `adminPort`. */
export async function startEnvoyFromBootstrap(configPath: string, adminPort: number): Promise<XdsEnvoy> {
  const bin = await envoyBinary();
  let output = '';
  const child: ChildProcess = spawn(
    bin,
    ['-c', configPath, '--base-id', String(adminPort), '--log-level', process.env.ENVOY_LOG_LEVEL ?? 'warn', '--concurrency', '1', '--disable-hot-restart'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const running = envoyProcess(child, adminPort, () => output);
  await waitFor(
    'Envoy admin to answer',
    async () => {
      if (running.exited()) throw new Error(`envoy exited:\n${output}`);
      return (await running.admin('/ready')).length > 0;
    },
    20_000,
  );
  return running;
}

/** What `openssl s_client -servername` saw. */
export interface SniProbe {
  /** The server certificate's subject line, e.g. `CN = a.example.com`; undefined when the handshake failed. */
  readonly subject: string | undefined;
  /** Distinguished names under "Acceptable client certificate CA names". */
  readonly acceptableCas: readonly string[];
  /** The server certificate (PEM) as openssl printed it; undefined when the handshake failed. */
  readonly certificatePem: string | undefined;
  readonly output: string;
}

/** One handshake with `openssl s_client`, as an operator would check a hostname. */
export function sniProbe(port: number, servername: string): Promise<SniProbe> {
  return new Promise((resolve) => {
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername], { timeout: 15_000 }, (_err, stdout, stderr) => {
      const output = `${stdout}\n${stderr}`;
      const subject = /^subject=\s*(.+)$/m.exec(stdout)?.[1]?.trim();
      const lines = stdout.split('\n');
      const start = lines.findIndex((l) => l.startsWith('Acceptable client certificate CA names'));
      const acceptableCas: string[] = [];
      if (start >= 0) {
        for (const l of lines.slice(start + 1)) {
          if (l.includes(':') || l.startsWith('---') || l.trim() === '') break;
          acceptableCas.push(l.trim());
        }
      }
      const certificatePem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout)?.[0];
      resolve({ subject, acceptableCas, certificatePem, output });
    });
    child.stdin?.end();
  });
}
