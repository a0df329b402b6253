import { describe, expect, it } from '@jest/globals';
import { checkCustomHostname, nameCovers } from '../../../src/hostnames/names.js';

const accepted = (text: string): string => {
  const r = checkCustomHostname(text);
  if (!r.ok) throw new Error(`refused ${text}: ${r.message}`);
  return r.value.hostname;
};
const refusal = (text: string): string => {
  const r = checkCustomHostname(text);
  if (r.ok) throw new Error(`accepted ${text} as ${r.value.hostname}`);
  return r.message;
};

describe('custom hostname names', () => {
  it('lower-cases, drops the trailing dot, and keeps wildcards as the leftmost label', () => {
    expect(accepted('Pay.Shop.Example.')).toBe('pay.shop.example');
    expect(checkCustomHostname('*.Shop.Example')).toEqual({ ok: true, value: { hostname: '*.shop.example', wildcard: true } });
  });

  it('turns internationalised names into their A-label and checks existing A-labels', () => {
    expect(accepted('pay.Bücher.example')).toBe('pay.xn--bcher-kva.example');
    expect(accepted('pay.xn--bcher-kva.example')).toBe('pay.xn--bcher-kva.example');
    expect(refusal('pay.xn--zz-$.example')).toMatch(/IDNA|not a valid/);
  });

  it.each([
    ['', /empty/],
    ['pay', /single label/],
    ['*.example', /two labels after it/],
    ['pay.*.example', /leftmost label/],
    ['p*y.shop.example', /leftmost label/],
    ['pay_me.shop.example', /letter-digit-hyphen/],
    ['-pay.shop.example', /not a valid DNS name|letter-digit-hyphen/],
    ['ab--cd.shop.example', /reserved for IDNA/],
    ['10.0.0.1', /IP address/],
    ['pay.shop.example:443', /port/],
    [`${'a'.repeat(64)}.example`, /longer than 63/],
    [`${'a.'.repeat(127)}com`, /253/],
  ])('refuses %j', (text, message) => {
    expect(refusal(text)).toMatch(message);
  });

  it('matches certificate names as TLS does: exact, or a wildcard over one label', () => {
    expect(nameCovers('pay.shop.example', 'pay.shop.example')).toBe(true);
    expect(nameCovers('PAY.shop.example.', 'pay.shop.example')).toBe(true);
    expect(nameCovers('*.shop.example', 'pay.shop.example')).toBe(true);
    expect(nameCovers('*.shop.example', 'a.pay.shop.example')).toBe(false);
    expect(nameCovers('*.shop.example', 'shop.example')).toBe(false);
    expect(nameCovers('*.shop.example', '*.shop.example')).toBe(true);
    expect(nameCovers('pay.shop.example', '*.shop.example')).toBe(false);
  });
});
