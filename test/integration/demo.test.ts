import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { freePort } from '../helpers/ports.js';

// `npm run demo` runs this same script after the build; `--check` makes it fire
// each claim once through the real Envoy and exit with the verdict.
const script = join(packageRoot(), 'dist', 'scripts', 'demo.js');

test('the demo proves its claims through a real Envoy, signs in with Chromium through its IdP, and stops cleanly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bouncer-demo-'));
  try {
    const env = {
      ...process.env,
      DEMO_DIR: dir,
      DEMO_ENVOY_PORT: String(await freePort()),
      DEMO_ENVOY_ADMIN_PORT: String(await freePort()),
      DEMO_AUTHZ_PORT: String(await freePort()),
      DEMO_HTTP_PORT: String(await freePort()),
      DEMO_UPSTREAM_PORT: String(await freePort()),
      DEMO_IDP_PORT: String(await freePort()),
    };
    const child = spawn(process.execPath, [script, '--check'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect({ code, out }).toMatchObject({ code: 0 });
    expect(out).toMatch(/ok {3}acme's device passes on acme's hostname: HTTP 200/);
    expect(out).toMatch(/ok {3}acme's device is refused on globex's hostname: HTTP 403 .*client_cert_untrusted/);
    expect(out).toMatch(/ok {3}no client certificate is refused: HTTP 401 .*client_cert_missing/);
    expect(out).toMatch(/ok {3}a forged XFCC header \(no certificate\) changes nothing: HTTP 401/);
    // The login service is reached at auth.public_url, whose port is Envoy's.
    expect(out).toMatch(/ok {3}the login service answers at auth\.public_url, through Envoy: HTTP 200/);
    expect(readFileSync(join(dir, 'bouncer.yaml'), 'utf8')).toContain(`public_url: https://auth.localhost:${env.DEMO_ENVOY_PORT}`);
    // Sign-in: a real oidc-provider process, headless Chromium through Envoy, the policy both ways.
    expect(out).toMatch(/ok {3}alice signs in with a browser through the demo IdP and reaches the app: the app saw alice@example\.test \(groups staff, policy staff\)/);
    expect(out).toMatch(/ok {3}bob signs in with a browser but the policy refuses them: refused with the deny page/);
    expect(out).toMatch(/Sign-in: open https:\/\/wiki\.localhost:\d+\/ in a browser/);
    expect(out).toContain('alice / alice-demo-password');
    // Copy-paste commands point at files the demo wrote.
    expect(out).toContain(`--cert ${join(dir, 'acme', 'device.pem')}`);
    expect(existsSync(join(dir, 'acme', 'device.key'))).toBe(true);
    const log = readFileSync(join(dir, 'bouncer.log'), 'utf8');
    expect(log).toContain('"reason":"client_cert_untrusted"');
    expect(log).toContain('"reason":"policy_allow"');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 150_000);
