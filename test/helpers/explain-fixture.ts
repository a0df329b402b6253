/**
 * A config with a tenant behind mTLS and an app with one policy of each
 * action, its device certificates, and a session signer using the config's
 * keys_dir, for the `access explain` tests.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import type { BouncerConfig } from '../../src/config/types.js';
import { hashServiceSecret } from '../../src/core/service-token.js';
import { signSession } from '../../src/core/session-token.js';
import { createRootCa, issueClientCert, issueIntermediateCa } from '../../src/pki/generate.js';
import { keyOverlapMs, openKeyStore } from '../../src/sessions/key-store.js';

export const SERVICE_SECRET = 'ci-secret-0123456789abcdef';

export interface ExplainFixture {
  readonly dir: string;
  readonly configPath: string;
  readonly config: BouncerConfig;
  /**
   * Device certificate PEMs: acme's (trusted by both tenants' hostnames here), a
   * stranger's, and one issued by an intermediate (`viaIntermediate`: leaf then
   * intermediate, as a client sends them; `intermediateLeaf`: the leaf alone).
   */
  readonly certs: { readonly acme: string; readonly stranger: string; readonly viaIntermediate: string; readonly intermediateLeaf: string };
  signSession(claims: { email: string; groups?: string[]; amr?: string[]; authTimeMs?: number }, nowMs: number): Promise<string>;
  remove(): void;
}

/** `extraYaml` is appended to the config (an `admin:` section, say). */
export async function createExplainFixture(extraYaml = ''): Promise<ExplainFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'bouncer-explain-'));
  const acmeCa = await createRootCa({ commonName: 'acme device root CA', organization: 'acme', keyAlgorithm: 'ec-p256', validDays: 30 });
  const strangerCa = await createRootCa({ commonName: 'acme device root CA', organization: 'acme', keyAlgorithm: 'ec-p256', validDays: 30 });
  const acme = await issueClientCert({ issuer: acmeCa, commonName: 'acme-laptop-1', keyAlgorithm: 'ec-p256', validDays: 10 });
  const stranger = await issueClientCert({ issuer: strangerCa, commonName: 'acme-laptop-1', keyAlgorithm: 'ec-p256', validDays: 10 });
  const devicesCa = await issueIntermediateCa({ issuer: acmeCa, commonName: 'acme devices CA', keyAlgorithm: 'ec-p256', validDays: 20, pathLen: 0 });
  const viaIntermediate = await issueClientCert({ issuer: devicesCa, commonName: 'acme-phone-1', keyAlgorithm: 'ec-p256', validDays: 10 });
  writeFileSync(join(dir, 'acme-ca.pem'), acmeCa.certPem);
  writeFileSync(join(dir, 'acme.pem'), acme.certPem);
  writeFileSync(join(dir, 'stranger.pem'), stranger.certPem);
  const yaml = `
listen: { authz: 127.0.0.1:0, http: 127.0.0.1:0 }
auth:
  domain: auth.acme.test
  session: { duration: 8h, keys_dir: ./keys }
  country_header: cf-ipcountry
idps:
  - { id: okta, type: oidc, issuer: "https://okta.acme.test", client_id: bouncer, client_secret_env: OKTA_SECRET }
service_tokens:
  - { id: ci-bot, client_id: ci-client, secret_sha256: ${hashServiceSecret(SERVICE_SECRET)} }
tenants:
  - { name: acme, hostnames: [pay.acme.test], mtls: { mode: require, ca: ./acme-ca.pem, exempt_paths: [/healthz] } }
  - { name: corp, hostnames: [wiki.acme.test], mtls: { mode: optional, ca: ./acme-ca.pem } }
apps:
  - name: wiki
    hostnames: [wiki.acme.test]
    idps: [okta]
    policies:
      - { name: health, action: bypass, include: [ { cel: "request.path == '/healthz'" } ] }
      - { name: ci, action: service_auth, include: [ { service_token: [ci-bot] } ] }
      - { name: embargo, action: deny, include: [ { country: [KP] } ] }
      - name: staff
        action: allow
        include: [ { email_domain: [acme.test] } ]
        require: [ { amr: [mfa] } ]
        exclude: [ { email: [intern@acme.test] } ]
      - { name: devices, action: allow, include: [ { certificate: true } ] }
${extraYaml}`;
  const configPath = join(dir, 'bouncer.yaml');
  writeFileSync(configPath, yaml);
  const env = { OKTA_SECRET: 'okta-secret' };
  process.env.OKTA_SECRET = env.OKTA_SECRET;
  const config = await loadConfig(configPath, env);
  return {
    dir,
    configPath,
    config,
    certs: { acme: acme.certPem, stranger: stranger.certPem, viaIntermediate: `${viaIntermediate.certPem}${devicesCa.certPem}`, intermediateLeaf: viaIntermediate.certPem },
    async signSession(c, nowMs) {
      const keys = await openKeyStore({ dir: join(dir, 'keys'), rotateAfterDays: 30, overlapMs: keyOverlapMs(8 * 3600), nowMs, clock: () => nowMs });
      const nowSec = Math.floor(nowMs / 1000);
      return signSession(
        {
          iss: 'auth.acme.test',
          aud: 'wiki',
          sub: `okta:${c.email}`,
          email: c.email,
          groups: c.groups ?? [],
          idp: 'okta',
          idp_type: 'oidc',
          amr: c.amr ?? ['pwd'],
          auth_time: Math.floor((c.authTimeMs ?? nowMs) / 1000),
          sid: `sid-${c.email}`,
          exp: nowSec + 3600,
        },
        keys.current(),
        nowMs,
      );
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
