// The customer hostname operations of the admin API: scopes, uploads with
// every refusal reason visible, state and reason in the answers, the catalog
// following, and no private key in any answer, audit entry or log line.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes, X509Certificate } from 'node:crypto';
import { pino } from 'pino';
import { parseKekRing } from '../../src/hostnames/key-envelope.js';
import { createHostnameManager } from '../../src/hostnames/manager.js';
import type { HostnameManager } from '../../src/hostnames/manager-contract.js';
import { createMemoryHostnameStore } from '../../src/hostnames/memory-store.js';
import { createRootCa, issueIntermediateCa, issueServerCert, type KeyPairPem } from '../../src/pki/generate.js';
import { startTestAdmin, type TestAdmin } from '../helpers/admin-server.js';
import { NOW } from '../helpers/pki-fixtures.js';

let admin: TestAdmin;
let manager: HostnameManager | undefined;
let root: KeyPairPem;
let inter: KeyPairPem;
let leaf: KeyPairPem;
let wrongKey: KeyPairPem;

beforeAll(async () => {
  root = await createRootCa({ commonName: 'Customer Root' });
  inter = await issueIntermediateCa({ commonName: 'Customer Intermediate', issuer: root });
  leaf = await issueServerCert({ commonName: 'pay.acme.test', issuer: inter, dns: ['pay.acme.test'] });
  wrongKey = await issueServerCert({ commonName: 'x.acme.test', issuer: inter, dns: ['x.acme.test'] });
  const kek = parseKekRing(`adm:${randomBytes(32).toString('base64')}`, 'test');
  admin = await startTestAdmin({
    hostnames: async (tenants) => {
      manager = createHostnameManager({ store: createMemoryHostnameStore(), tenants, keys: kek, clock: Date.now, logger: pino({ level: 'silent' }) });
      return manager;
    },
  });
  await manager?.start();
  await admin.store.putTenant({ name: 'acme', hostnames: ['www.acme.test'], mtls: { mode: 'off' } });
  await admin.store.putTenant({ name: 'rival', hostnames: ['rival.acme.test'], mtls: { mode: 'off' } });
}, 60_000);

afterAll(async () => {
  await manager?.close();
  await admin?.close();
});

const upload = (chain: string, key: string, extra: Record<string, unknown> = {}) => ({ tenant: 'acme', certificate_chain_pem: chain, private_key_pem: key, ...extra });

describe('admin API: custom hostnames', () => {
  it('needs the hostnames scopes', async () => {
    expect((await admin.call('GET', '/v1/custom-hostnames', { token: 'reader' })).status).toBe(403);
    expect((await admin.call('GET', '/v1/custom-hostnames', { token: 'hostreader' })).status).toBe(200);
    const denied = await admin.call('POST', '/v1/custom-hostnames', { token: 'hostreader', body: { tenant: 'acme', hostname: 'a.acme.test' } });
    expect(denied.status).toBe(403);
    expect(denied.body.message).toContain('hostnames:write');
    expect((await admin.call('GET', '/v1/custom-hostnames', { token: null })).status).toBe(401);
  });

  it('uploads a certificate: active, served, and no key in the answer', async () => {
    const r = await admin.call('PUT', '/v1/custom-hostnames/pay.acme.test/certificate', { token: 'hostwriter', body: upload(leaf.certPem + inter.certPem + root.certPem, leaf.keyPem) });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ hostname: 'pay.acme.test', tenant: 'acme', source: 'upload', state: 'active', reason: null });
    expect((r.body.certificate as Record<string, unknown>).dns_names).toEqual(['pay.acme.test']);
    expect(JSON.stringify(r.body)).not.toMatch(/PRIVATE KEY|bk1\./);
    expect(manager?.catalog.get('pay.acme.test')?.tenant).toBe('acme');
    const detail = await admin.call('GET', '/v1/custom-hostnames/PAY.acme.test', { token: 'hostreader' });
    expect(detail.status).toBe(200);
    expect(detail.body.certificate_chain_pem).toContain('BEGIN CERTIFICATE');
    expect((detail.body.certificate_chain_pem as string).match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(JSON.stringify(detail.body)).not.toMatch(/PRIVATE KEY/);
  });

  it.each([
    ['a key of another certificate', () => upload(leaf.certPem + inter.certPem + root.certPem, wrongKey.keyPem), 'upload_invalid_key_mismatch'],
    ['a chain without its root', () => upload(leaf.certPem + inter.certPem, leaf.keyPem), 'upload_invalid_chain_incomplete'],
    ['garbage', () => upload('not a certificate', leaf.keyPem), 'upload_invalid_pem'],
  ])('refuses %s with 400 ERR_UPLOAD_INVALID and its reason, and keeps serving the last good one', async (_label, body, reason) => {
    const r = await admin.call('PUT', '/v1/custom-hostnames/pay.acme.test/certificate', { token: 'hostwriter', body: body() });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: 'ERR_UPLOAD_INVALID', reason });
    expect(r.body.message).toContain(reason);
    expect((await admin.call('GET', '/v1/custom-hostnames/pay.acme.test')).body.state).toBe('active');
  });

  it('a refused upload of a new hostname stores nothing', async () => {
    const r = await admin.call('PUT', '/v1/custom-hostnames/new.acme.test/certificate', { token: 'hostwriter', body: upload(leaf.certPem + inter.certPem + root.certPem, leaf.keyPem) });
    expect(r.body).toMatchObject({ error: 'ERR_UPLOAD_INVALID', reason: 'upload_invalid_hostname_mismatch' });
    expect((await admin.call('GET', '/v1/custom-hostnames/new.acme.test')).status).toBe(404);
  });

  it('accepts a chain ending at declared intermediates', async () => {
    const l2 = await issueServerCert({ commonName: 'shop.acme.test', issuer: inter, dns: ['shop.acme.test'] });
    const r = await admin.call('PUT', '/v1/custom-hostnames/shop.acme.test/certificate', { token: 'hostwriter', body: upload(l2.certPem, l2.keyPem, { intermediates_pem: inter.certPem }) });
    expect(r.status).toBe(200);
    expect(r.body.state).toBe('active');
  });

  it('a refused upload leaves the served certificate in place', async () => {
    const before = manager?.catalog.get('pay.acme.test')?.version;
    const r = await admin.call('PUT', '/v1/custom-hostnames/pay.acme.test/certificate', { token: 'hostwriter', body: upload(wrongKey.certPem + inter.certPem + root.certPem, wrongKey.keyPem) });
    expect(r.body).toMatchObject({ error: 'ERR_UPLOAD_INVALID', reason: 'upload_invalid_hostname_mismatch' });
    expect(manager?.catalog.get('pay.acme.test')?.version).toBe(before);
    expect((await admin.call('GET', '/v1/custom-hostnames/pay.acme.test')).body.state).toBe('active');
  });

  it('adds a hostname for ACME; without an ACME CA it fails with acme_not_configured, visible in the answer', async () => {
    const r = await admin.call('POST', '/v1/custom-hostnames', { token: 'hostwriter', body: { tenant: 'acme', hostname: 'Bücher.acme.test' } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ hostname: 'xn--bcher-kva.acme.test', state: 'failed', reason: 'acme_not_configured', source: 'acme' });
    expect(r.body.reason_description).toMatch(/ACME/);
  });

  it('refuses bad names, unknown tenants and names of other tenants, each with its code', async () => {
    const bad = await admin.call('POST', '/v1/custom-hostnames', { body: { tenant: 'acme', hostname: 'a_b.acme.test' } });
    expect(bad).toMatchObject({ status: 400, body: { error: 'ERR_CUSTOM_HOSTNAME_INVALID' } });
    const noTenant = await admin.call('POST', '/v1/custom-hostnames', { body: { tenant: 'ghost', hostname: 'g.acme.test' } });
    expect(noTenant).toMatchObject({ status: 404, body: { error: 'ERR_TENANT_NOT_FOUND' } });
    const rival = await admin.call('POST', '/v1/custom-hostnames', { body: { tenant: 'acme', hostname: 'rival.acme.test' } });
    expect(rival).toMatchObject({ status: 409, body: { error: 'ERR_CUSTOM_HOSTNAME_TAKEN' } });
    const twice = await admin.call('POST', '/v1/custom-hostnames', { body: { tenant: 'rival', hostname: 'pay.acme.test' } });
    expect(twice).toMatchObject({ status: 409, body: { error: 'ERR_CUSTOM_HOSTNAME_TAKEN' } });
    const missing = await admin.call('GET', '/v1/custom-hostnames/none.acme.test');
    expect(missing).toMatchObject({ status: 404, body: { error: 'ERR_CUSTOM_HOSTNAME_NOT_FOUND' } });
  });

  it('lists by tenant and state, a page at a time', async () => {
    const all = await admin.call('GET', '/v1/custom-hostnames?tenant=acme&limit=2', { token: 'hostreader' });
    expect((all.body.items as Array<{ hostname: string }>).map((i) => i.hostname)).toEqual(['pay.acme.test', 'shop.acme.test']);
    const next = await admin.call('GET', `/v1/custom-hostnames?tenant=acme&limit=2&after=${all.body.next as string}`, { token: 'hostreader' });
    expect((next.body.items as Array<{ hostname: string }>).map((i) => i.hostname)).toEqual(['xn--bcher-kva.acme.test']);
    expect(next.body.next).toBeUndefined();
    const failed = await admin.call('GET', '/v1/custom-hostnames?state=failed', { token: 'hostreader' });
    expect((failed.body.items as Array<{ hostname: string; reason: string }>).map((i) => [i.hostname, i.reason])).toEqual([['xn--bcher-kva.acme.test', 'acme_not_configured']]);
  });

  it("follows the tenant's CA certificates: a rotated CA bundle becomes the hostname's client-CA list", async () => {
    // The test admin's tenant store judges CAs at the fixed NOW of the fixtures.
    const notBefore = new Date(NOW - 86_400_000);
    const [ca1, ca2] = await Promise.all([createRootCa({ commonName: 'Devices CA 1', notBefore }), createRootCa({ commonName: 'Devices CA 2', notBefore })]);
    await admin.store.putTenant({ name: 'devices', hostnames: ['dev.acme.test'], mtls: { caPem: ca1.certPem } });
    const l = await issueServerCert({ commonName: 'dev.acme.test', issuer: inter, dns: ['dev.acme.test'] });
    const r = await admin.call('PUT', '/v1/custom-hostnames/dev.acme.test/certificate', { body: { tenant: 'devices', certificate_chain_pem: l.certPem + inter.certPem + root.certPem, private_key_pem: l.keyPem } });
    expect(r.status).toBe(200);
    const before = manager?.catalog.get('dev.acme.test');
    expect(before?.clientCaPems.map((p) => new X509Certificate(p).subject)).toEqual(['CN=Devices CA 1']);
    const changed = new Promise<void>((resolve) => {
      const off = manager?.catalog.subscribe((c) => {
        if (c.upserted.includes('dev.acme.test')) {
          off?.();
          resolve();
        }
      });
    });
    await admin.store.putTenant({ name: 'devices', hostnames: ['dev.acme.test'], mtls: { caPem: ca2.certPem + ca1.certPem } });
    await changed;
    const after = manager?.catalog.get('dev.acme.test');
    expect(after?.clientCaPems.map((p) => new X509Certificate(p).subject)).toEqual(['CN=Devices CA 2', 'CN=Devices CA 1']);
    expect(after?.version).not.toBe(before?.version);
    expect(after?.certificateChainPem).toBe(before?.certificateChainPem);
  });

  it('removes a hostname: gone from the catalog, 404 afterwards', async () => {
    expect((await admin.call('DELETE', '/v1/custom-hostnames/pay.acme.test', { token: 'hostwriter' })).status).toBe(204);
    expect(manager?.catalog.get('pay.acme.test')).toBeUndefined();
    expect((await admin.call('DELETE', '/v1/custom-hostnames/pay.acme.test', { token: 'hostwriter' })).status).toBe(404);
  });

  it('audits every change without PEM or key material', async () => {
    const audit = await admin.call('GET', '/v1/audit?limit=100');
    const actions = (audit.body.items as Array<{ action: string }>).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['custom_hostname.upload', 'custom_hostname.add', 'custom_hostname.remove']));
    expect(JSON.stringify(audit.body)).not.toMatch(/BEGIN|PRIVATE KEY/);
    expect(JSON.stringify(admin.logLines)).not.toMatch(/PRIVATE KEY/);
  });
});
