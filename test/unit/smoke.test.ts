import { X509Certificate } from 'node:crypto';
test('esm works', () => { expect(typeof X509Certificate).toBe('function'); });
