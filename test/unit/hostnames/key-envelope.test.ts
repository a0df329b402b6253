import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKekRing, parseKekRing } from '../../../src/hostnames/key-envelope.js';

const kek = (id: string): string => `${id}:${randomBytes(32).toString('base64')}`;
const SECRET = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';

describe('key envelopes', () => {
  it('seals and opens, and the envelope holds none of the plaintext', () => {
    const ring = parseKekRing(kek('k1'), 'test');
    const sealed = ring.seal(SECRET, 'hostname-key|pay.shop.example');
    expect(sealed.startsWith('bk1.k1.')).toBe(true);
    expect(sealed).not.toContain('PRIVATE KEY');
    expect(sealed).not.toContain('MIGHAgEAMBMGByqGSM49');
    expect(ring.open(sealed, 'hostname-key|pay.shop.example')).toBe(SECRET);
    // A fresh data key and IV every time.
    expect(ring.seal(SECRET, 'hostname-key|pay.shop.example')).not.toBe(sealed);
  });

  it("refuses an envelope moved to another record's context", () => {
    const ring = parseKekRing(kek('k1'), 'test');
    const sealed = ring.seal(SECRET, 'hostname-key|a.shop.example');
    expect(() => ring.open(sealed, 'hostname-key|b.shop.example')).toThrow(expect.objectContaining({ code: 'ERR_ENVELOPE_INVALID' }));
  });

  it('refuses an altered envelope', () => {
    const ring = parseKekRing(kek('k1'), 'test');
    const parts = ring.seal(SECRET, 'c').split('.');
    const data = Buffer.from(parts[3] as string, 'base64url');
    data.writeUInt8((data.at(-1) ?? 0) ^ 1, data.length - 1);
    parts[3] = data.toString('base64url');
    expect(() => ring.open(parts.join('.'), 'c')).toThrow(expect.objectContaining({ code: 'ERR_ENVELOPE_INVALID' }));
    expect(() => ring.open('bk1.k1.abc', 'c')).toThrow(expect.objectContaining({ code: 'ERR_ENVELOPE_INVALID' }));
  });

  it('rotates: a new active KEK opens old envelopes while listed, rewrap moves them, then the old KEK can go', () => {
    const oldKey = kek('k2025');
    const newKey = kek('k2026');
    const before = parseKekRing(oldKey, 'old');
    const sealed = before.seal(SECRET, 'ctx');
    const during = parseKekRing(`${newKey}\n${oldKey}`, 'rotating');
    expect(during.activeId).toBe('k2026');
    expect(during.open(sealed, 'ctx')).toBe(SECRET);
    const rewrapped = during.rewrap(sealed, 'ctx');
    expect(during.kekIdOf(rewrapped)).toBe('k2026');
    // The data part is untouched: only the data key was re-wrapped.
    expect(rewrapped.split('.')[3]).toBe(sealed.split('.')[3]);
    const after = parseKekRing(newKey, 'new');
    expect(after.open(rewrapped, 'ctx')).toBe(SECRET);
    expect(() => after.open(sealed, 'ctx')).toThrow(expect.objectContaining({ code: 'ERR_KEK_UNKNOWN' }));
  });

  it.each([
    ['', 'ERR_KEK_MISSING'],
    ['# only a comment', 'ERR_KEK_MISSING'],
    ['nocolon', 'ERR_KEK_INVALID'],
    ['k1:c2hvcnQ=', 'ERR_KEK_INVALID'],
    ['bad id!:' + randomBytes(32).toString('base64'), 'ERR_KEK_INVALID'],
  ])('refuses the keyring %j', (text, code) => {
    expect(() => parseKekRing(text, 'test')).toThrow(expect.objectContaining({ code }));
  });

  it('refuses a keyring naming one id twice, and never echoes a key in its messages', () => {
    const k = kek('k1');
    let message = '';
    try {
      parseKekRing(`${k}\n${k}`, 'test');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/appears twice/);
    expect(message).not.toContain(k.slice(3));
  });

  it('reads the keyring from a file or from the environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kek-'));
    const file = join(dir, 'kek');
    writeFileSync(file, `# bouncer KEKs, newest first\n${kek('f1')}\n${kek('f0')}\n`, { mode: 0o600 });
    expect(loadKekRing({ file }).ids).toEqual(['f1', 'f0']);
    expect(loadKekRing({}, { BOUNCER_HOSTNAME_KEK: `${kek('e2')},${kek('e1')}` }).ids).toEqual(['e2', 'e1']);
    expect(loadKekRing({}, { BOUNCER_HOSTNAME_KEK: kek('e1') }).activeId).toBe('e1');
    expect(() => loadKekRing({}, {})).toThrow(expect.objectContaining({ code: 'ERR_KEK_MISSING' }));
    expect(() => loadKekRing({ file: join(dir, 'absent') })).toThrow(expect.objectContaining({ code: 'ERR_KEK_MISSING' }));
  });
});
