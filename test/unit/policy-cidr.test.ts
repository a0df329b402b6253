import { cidrContains, parseCidr, parseIp, type CidrRange } from '../../src/core/policy/cidr.js';

function range(text: string): CidrRange {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(`expected ${text} to parse: ${r.message}`);
  return r.range;
}

function contains(cidr: string, ip: string): boolean {
  const addr = parseIp(ip);
  if (addr === undefined) throw new Error(`expected ${ip} to parse`);
  return cidrContains(range(cidr), addr);
}

describe('parseIp', () => {
  test.each([
    ['0.0.0.0', 4, 0n],
    ['255.255.255.255', 4, 0xffffffffn],
    ['10.1.2.3', 4, 0x0a010203n],
    ['100.200.10.0', 4, 0x64c80a00n],
    ['1.0.0.9', 4, 0x01000009n],
    ['::', 6, 0n],
    ['::1', 6, 1n],
    ['2001:db8::1', 6, 0x20010db8000000000000000000000001n],
    ['2001:DB8:0:0:0:0:0:1', 6, 0x20010db8000000000000000000000001n],
    ['1:2:3:4:5:6:7::', 6, 0x00010002000300040005000600070000n],
    ['::ffff:10.0.0.1', 4, 0x0a000001n], // IPv4-mapped becomes IPv4
    ['::FFFF:0a00:0001', 4, 0x0a000001n], // mapped, hex form
    ['::10.0.0.1', 6, 0x0a000001n], // deprecated IPv4-compatible form stays IPv6
    ['64:ff9b::10.0.0.1', 6, 0x0064ff9b00000000000000000a000001n],
  ])('%s', (text, family, value) => {
    expect(parseIp(text)).toEqual({ family, value });
  });

  test.each([
    '', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.4.', '.1.2.3', '1.2.3.0256', '1.2.3.1000', '00.1.2.3', '1.2.3.00', '\u0661.2.3.4', '1.2.3.4\u0000', '1.2.+3.4', '01.2.3.4', '1.2.3.-4', '1.2.3.4 ', ' 1.2.3.4', '1..2.3', '0x1.2.3.4',
    ':::', '1:::2', '1::2::3', ':1::', '1::2:', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8::', '::1.2.3', '1.2.3.4::', 'fe80::1%eth0', '::ffff:256.0.0.1', 'localhost',
  ])('rejects %j', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });
});

describe('parseCidr', () => {
  test.each([
    ['0.0.0.0/0', { family: 4, base: 0n, prefix: 0 }],
    ['10.0.0.0/8', { family: 4, base: 0x0a000000n, prefix: 8 }],
    ['10.1.2.3', { family: 4, base: 0x0a010203n, prefix: 32 }],
    ['10.1.2.3/32', { family: 4, base: 0x0a010203n, prefix: 32 }],
    ['::/0', { family: 6, base: 0n, prefix: 0 }],
    ['2001:db8::/32', { family: 6, base: 0x20010db8n << 96n, prefix: 32 }],
    ['2001:db8::1', { family: 6, base: (0x20010db8n << 96n) | 1n, prefix: 128 }],
    ['2001:db8::1/128', { family: 6, base: (0x20010db8n << 96n) | 1n, prefix: 128 }],
    ['::ffff:10.0.0.0/104', { family: 4, base: 0x0a000000n, prefix: 8 }],
    ['::ffff:0.0.0.0/96', { family: 4, base: 0n, prefix: 0 }],
  ])('%s', (text, expected) => {
    expect(parseCidr(text)).toEqual({ ok: true, range: { ...expected, source: text } });
  });

  test.each([
    ['', /empty/],
    ['10.0.0.0/33', /0 to 32/],
    ['::/129', /0 to 128/],
    ['10.0.0.0/', /prefix length/],
    ['10.0.0.0/08', /prefix length/],
    ['10.0.0.0/+8', /prefix length/],
    ['10.0.0.0/-1', /prefix length/],
    ['10.0.0.0/8/8', /prefix length/],
    ['10.0.0.0/ 8', /prefix length/],
    ['10.0.0.1/8', /did you mean "10\.0\.0\.0\/8"/],
    ['2001:db8::1/32', /did you mean "2001:db8:0:0:0:0:0:0\/32"/],
    ['300.0.0.0/8', /not a valid IPv4/],
    ['2001:db8:::/32', /not a valid IPv6/],
    ['fe80::1%eth0/64', /not a valid IPv6/],
    ['example.com/24', /not a valid IPv4/],
  ])('rejects %j', (text, message) => {
    const r = parseCidr(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(message);
  });
});

describe('cidrContains', () => {
  test.each([
    // prefix 0 matches every address of its family and none of the other
    ['0.0.0.0/0', '1.2.3.4', true],
    ['0.0.0.0/0', '255.255.255.255', true],
    ['0.0.0.0/0', '2001:db8::1', false],
    ['::/0', '2001:db8::1', true],
    ['::/0', '1.2.3.4', false],
    // boundaries
    ['10.0.0.0/8', '10.0.0.0', true],
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['10.0.0.0/8', '9.255.255.255', false],
    ['192.168.1.0/25', '192.168.1.127', true],
    ['192.168.1.0/25', '192.168.1.128', false],
    ['10.1.2.3/32', '10.1.2.3', true],
    ['10.1.2.3/32', '10.1.2.4', false],
    ['10.1.2.3', '10.1.2.3', true],
    ['2001:db8::/32', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['2001:db8::/32', '2001:db9::', false],
    ['2001:db8::1/128', '2001:db8::1', true],
    ['2001:db8::1/128', '2001:db8::2', false],
    ['::1/128', '::1', true],
    // IPv4-mapped IPv6 addresses are IPv4 (a dual-stack listener reports them)
    ['10.0.0.0/8', '::ffff:10.9.8.7', true],
    ['10.0.0.0/8', '::ffff:11.0.0.1', false],
    ['::ffff:10.0.0.0/104', '10.1.1.1', true],
    ['::ffff:10.0.0.0/104', '::ffff:10.1.1.1', true],
    ['::ffff:0:0/96', '8.8.8.8', true],
    ['::/0', '::ffff:1.2.3.4', false],
  ])('%s contains %s: %s', (cidr, ip, expected) => {
    expect(contains(cidr, ip)).toBe(expected);
  });
});
