import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { buildXdsBootstrap, renderXdsBootstrapYaml } from '../../src/envoy/render-xds.js';
import { BouncerError } from '../../src/core/errors.js';
import { runCaptured } from '../helpers/cli.js';
import { envoyBinary } from '../helpers/envoy.js';

const run = promisify(execFile);
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-render-xds-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bouncer envoy render --xds', () => {
  test('writes a bootstrap with delta ADS to bouncer, the node identity and the static clusters the served listener names', async () => {
    const out = join(dir, 'xds.yaml');
    const r = await runCaptured(['envoy', 'render', '--xds', '--xds-server', '10.0.0.5:18000', '--node-id', 'edge-7', '--acme', 'bouncer:8080', '-o', out]);
    expect(r.code).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text).toBe(renderXdsBootstrapYaml({ nodeId: 'edge-7', xdsHost: '10.0.0.5', xdsPort: 18000, acmeHost: 'bouncer', acmePort: 8080 }));
    const doc = parse(text) as Record<string, Record<string, unknown>>;
    expect(doc.node).toEqual({ id: 'edge-7', cluster: 'bouncer-edge' });
    expect(doc.dynamic_resources).toMatchObject({ ads_config: { api_type: 'DELTA_GRPC', transport_api_version: 'V3' }, lds_config: { ads: {} } });
    const clusters = (doc.static_resources?.clusters as Array<{ name: string }>).map((c) => c.name);
    expect(clusters).toEqual(['bouncer_xds', 'bouncer_authz', 'bouncer_acme', 'bouncer_acme_tls', 'upstream']);
    // No stats per hostname: Envoy would make about 170 for each (docs/xds.md, "Envoy stats").
    expect(doc.stats_config).toEqual({ stats_matcher: { exclusion_list: { patterns: [{ prefix: 'cluster.host/' }, { prefix: 'listener.envoy_internal_host/' }, { prefix: 'sds.cert/' }, { prefix: 'sds.client-ca/' }] } } });
    // Envoy itself accepts it.
    const { stdout, stderr } = await run(await envoyBinary(), ['--mode', 'validate', '-c', out, '--disable-hot-restart'], { timeout: 60_000 });
    expect(stdout + stderr).toMatch(/OK/);
  }, 90_000);

  test('refuses the static listener flags, which bouncer serves over xDS instead', async () => {
    const r = await runCaptured(['envoy', 'render', '--xds', '--cert', '/x.pem']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--cert do not apply with --xds');
  });

  test('refuses a node id Envoy would not take', () => {
    expect(() => buildXdsBootstrap({ nodeId: 'bad id' })).toThrow(BouncerError);
  });
});
