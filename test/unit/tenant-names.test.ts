import { checkExemptPath, checkTenantName, normalizeTenantHostname } from '../../src/core/tenant-names.js';

// Pure checks shared by the config loader and the tenant stores.
test.each([
  ['Pay.Acme.Example.', { ok: true, value: 'pay.acme.example' }],
  ['*.acme.example', { ok: true, value: '*.acme.example' }],
  ['_dmarc.acme.example', { ok: true, value: '_dmarc.acme.example' }],
  ['10.1.2.3', { ok: false, message: expect.stringContaining('is an IP address') }],
  ['[::1]', { ok: false, message: expect.stringContaining('is an IP address') }],
  ['::ffff:10.0.0.1', { ok: false, message: expect.stringContaining('is an IP address') }],
  ['10.1.2', { ok: false, message: expect.stringContaining('numeric label') }],
  ['acme.example:8443', { ok: false, message: expect.stringContaining('includes a port') }],
  ['*.example', { ok: false, message: expect.stringContaining('at least two labels') }],
  ['a.*.example', { ok: false, message: expect.stringContaining('whole leftmost label') }],
  ['a..example', { ok: false, message: expect.stringContaining('empty label') }],
  ['-a.example', { ok: false, message: expect.stringContaining('not a valid DNS name') }],
  ['', { ok: false, message: 'hostname must not be empty' }],
])('normalizeTenantHostname(%j)', (text, expected) => {
  expect(normalizeTenantHostname(text)).toEqual(expected);
});

test.each([
  ['/health', undefined],
  ['/public/*', undefined],
  ['health', "'health' must start with '/'"],
  ['/a?b', expect.stringContaining("without '?' query")],
  ['/a%2e', expect.stringContaining("'%' escapes")],
  ['/a/../b', expect.stringContaining("'..' segments")],
  ['/a*b', expect.stringContaining("trailing '/*'")],
  ['/a b', expect.stringContaining('spaces or control characters')],
])('checkExemptPath(%j)', (path, expected) => {
  expect(checkExemptPath(path)).toEqual(expected);
});

test.each([
  ['acme', undefined],
  ['acme_2-eu', undefined],
  ['Acme', expect.stringContaining("got 'Acme'")],
  ['-acme', expect.stringContaining("got '-acme'")],
  ['a'.repeat(64), expect.stringContaining('1 to 63 characters')],
])('checkTenantName(%j)', (name, expected) => {
  expect(checkTenantName(name)).toEqual(expected);
});
