import 'reflect-metadata';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { createRootCa, issueClientCert, issueIntermediateCa, issueServerCert, type KeyPairPem } from '../../../src/pki/generate.js';
import { checkUpload, type UploadCheck } from '../../../src/hostnames/upload-check.js';

const DAY = 86_400_000;
const HOST = 'pay.shop.example';
let root: KeyPairPem;
let inter: KeyPairPem;
let leaf: KeyPairPem;
let other: KeyPairPem;

beforeAll(async () => {
  root = await createRootCa({ commonName: 'Upload Root' });
  inter = await issueIntermediateCa({ commonName: 'Upload Intermediate', issuer: root });
  leaf = await issueServerCert({ commonName: HOST, issuer: inter, dns: [HOST, 'www.shop.example'] });
  other = await issueServerCert({ commonName: 'other.shop.example', issuer: inter, dns: ['other.shop.example'] });
});

const reasonOf = (r: UploadCheck): string => (r.ok ? 'ok' : r.reason);

describe('uploaded certificates', () => {
  it('accepts leaf + intermediate + root, and serves leaf + intermediate', () => {
    const r = checkUpload({ hostname: HOST, certificateChainPem: leaf.certPem + inter.certPem + root.certPem, privateKeyPem: leaf.keyPem }, Date.now());
    if (!r.ok) throw new Error(r.message);
    expect(r.value.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(r.value.privateKeyPem).toContain('BEGIN PRIVATE KEY');
  });

  it('accepts a chain ending at a declared intermediate', () => {
    expect(reasonOf(checkUpload({ hostname: HOST, certificateChainPem: leaf.certPem, privateKeyPem: leaf.keyPem, anchorsPem: inter.certPem }, Date.now()))).toBe('ok');
    expect(reasonOf(checkUpload({ hostname: HOST, certificateChainPem: leaf.certPem + inter.certPem, privateKeyPem: leaf.keyPem, anchorsPem: root.certPem }, Date.now()))).toBe('ok');
  });

  it('refuses a chain that does not reach a root or a declared certificate', () => {
    const r = checkUpload({ hostname: HOST, certificateChainPem: leaf.certPem + inter.certPem, privateKeyPem: leaf.keyPem }, Date.now());
    expect(reasonOf(r)).toBe('upload_invalid_chain_incomplete');
    expect(r.ok ? '' : r.message).toContain('Upload Root');
    expect(reasonOf(checkUpload({ hostname: HOST, certificateChainPem: leaf.certPem, privateKeyPem: leaf.keyPem }, Date.now()))).toBe('upload_invalid_chain_incomplete');
  });

  it('refuses a chain out of order or with a stranger in it', async () => {
    const strangerRoot = await createRootCa({ commonName: 'Stranger Root' });
    expect(reasonOf(checkUpload({ hostname: HOST, certificateChainPem: leaf.certPem + root.certPem + inter.certPem, privateKeyPem: leaf.keyPem }, Date.now()))).toBe('upload_invalid_chain_incomplete');
    expect(reasonOf(checkUpload({ hostname: HOST, certificateChainPem: leaf.certPem + inter.certPem + root.certPem + strangerRoot.certPem, privateKeyPem: leaf.keyPem }, Date.now()))).toBe('upload_invalid_chain_incomplete');
  });

  it('refuses a key of another certificate', () => {
    expect(reasonOf(checkUpload({ hostname: HOST, certificateChainPem: leaf.certPem + inter.certPem + root.certPem, privateKeyPem: other.keyPem }, Date.now()))).toBe('upload_invalid_key_mismatch');
  });

  it('refuses a certificate that does not cover the hostname, and applies wildcard rules', async () => {
    expect(reasonOf(checkUpload({ hostname: 'pay.shop.example', certificateChainPem: other.certPem + inter.certPem + root.certPem, privateKeyPem: other.keyPem }, Date.now()))).toBe('upload_invalid_hostname_mismatch');
    const wild = await issueServerCert({ commonName: 'wild', issuer: inter, dns: ['*.shop.example'] });
    const chain = wild.certPem + inter.certPem + root.certPem;
    expect(reasonOf(checkUpload({ hostname: 'eu.shop.example', certificateChainPem: chain, privateKeyPem: wild.keyPem }, Date.now()))).toBe('ok');
    expect(reasonOf(checkUpload({ hostname: '*.shop.example', certificateChainPem: chain, privateKeyPem: wild.keyPem }, Date.now()))).toBe('ok');
    expect(reasonOf(checkUpload({ hostname: 'a.eu.shop.example', certificateChainPem: chain, privateKeyPem: wild.keyPem }, Date.now()))).toBe('upload_invalid_hostname_mismatch');
    expect(reasonOf(checkUpload({ hostname: '*.shop.example', certificateChainPem: leaf.certPem + inter.certPem + root.certPem, privateKeyPem: leaf.keyPem }, Date.now()))).toBe('upload_invalid_hostname_mismatch');
  });

  it('refuses expired and not-yet-valid certificates, the chain included', () => {
    const chain = leaf.certPem + inter.certPem + root.certPem;
    expect(reasonOf(checkUpload({ hostname: HOST, certificateChainPem: chain, privateKeyPem: leaf.keyPem }, Date.now() + 400 * DAY))).toBe('upload_invalid_expired');
    expect(reasonOf(checkUpload({ hostname: HOST, certificateChainPem: chain, privateKeyPem: leaf.keyPem }, Date.now() - 2 * DAY))).toBe('upload_invalid_not_yet_valid');
  });

  it('refuses an expired intermediate even with a valid leaf', async () => {
    const old = await issueIntermediateCa({ commonName: 'Old Intermediate', issuer: root, notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    const l = await issueServerCert({ commonName: HOST, issuer: old, dns: [HOST], notBefore: new Date(Date.now() - 5 * DAY), notAfter: new Date(Date.now() + 30 * DAY) });
    const r = checkUpload({ hostname: HOST, certificateChainPem: l.certPem + old.certPem + root.certPem, privateKeyPem: l.keyPem }, Date.now());
    expect(reasonOf(r)).toBe('upload_invalid_expired');
    expect(r.ok ? '' : r.message).toContain('Old Intermediate');
  });

  it('refuses a CA or client certificate as the leaf', async () => {
    expect(reasonOf(checkUpload({ hostname: HOST, certificateChainPem: inter.certPem + root.certPem, privateKeyPem: inter.keyPem }, Date.now()))).toBe('upload_invalid_not_server_cert');
    const client = await issueClientCert({ commonName: 'device', issuer: inter, dns: [HOST] });
    expect(reasonOf(checkUpload({ hostname: HOST, certificateChainPem: client.certPem + inter.certPem + root.certPem, privateKeyPem: client.keyPem }, Date.now()))).toBe('upload_invalid_not_server_cert');
  });

  it('refuses weak and unsupported keys', async () => {
    const weak = await issueServerCert({ commonName: HOST, issuer: inter, dns: [HOST], keyAlgorithm: 'rsa-2048', rsaBits: 1024 });
    expect(reasonOf(checkUpload({ hostname: HOST, certificateChainPem: weak.certPem + inter.certPem + root.certPem, privateKeyPem: weak.keyPem }, Date.now()))).toBe('upload_invalid_key_unsupported');
    const ed = await issueServerCert({ commonName: HOST, issuer: inter, dns: [HOST], keyAlgorithm: 'ed25519' });
    expect(reasonOf(checkUpload({ hostname: HOST, certificateChainPem: ed.certPem + inter.certPem + root.certPem, privateKeyPem: ed.keyPem }, Date.now()))).toBe('upload_invalid_key_unsupported');
  });

  it.each([
    ['no certificate', 'hello', () => leaf.keyPem],
    ['broken base64', '-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n', () => leaf.keyPem],
    ['broken key', null, () => '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'],
    ['encrypted key', null, () => '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n'],
    ['too large', null, () => 'x'.repeat(300 * 1024)],
  ])('refuses unparsable input: %s', (_label, chain, key) => {
    const r = checkUpload({ hostname: HOST, certificateChainPem: chain ?? leaf.certPem + inter.certPem + root.certPem, privateKeyPem: key() }, Date.now());
    expect(reasonOf(r)).toBe('upload_invalid_pem');
    // The message never quotes the key it was given.
    expect(r.ok ? '' : r.message).not.toContain('AAAA');
  });
});
