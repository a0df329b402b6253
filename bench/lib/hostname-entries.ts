/** Customer hostname entries for the xDS benchmarks, issued fast enough for 10,000. */
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { ServedHostname } from '../../src/core/served-hostname.js';
import type { KeyPairPem } from '../../src/pki/generate.js';

/**
 * `n` hostname entries signed by `ca`, sharing one leaf key: issuing 10,000 certificates
 * with a fresh key each takes minutes and measures nothing Envoy or bouncer does.
 */
export async function hostnameEntries(ca: KeyPairPem, clientCa: KeyPairPem, n: number, prefix: string): Promise<Array<Omit<ServedHostname, 'version'>>> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const caKey = await webcrypto.subtle.importKey('pkcs8', createPrivateKey(ca.keyPem).export({ format: 'der', type: 'pkcs8' }), alg, false, ['sign']);
  const leafKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const leafKeyPem = createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey)), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
  const issuer = new x509.X509Certificate(ca.certPem).subject;
  const out: Array<Omit<ServedHostname, 'version'>> = [];
  for (let i = 0; i < n; i += 1) {
    const hostname = `${prefix}${i}.customers.test`;
    const cert = await x509.X509CertificateGenerator.create(
      {
        serialNumber: (0x100000 + i).toString(16) + randomBytes(4).toString('hex'),
        subject: `CN=${hostname}`,
        issuer,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 7 * 86_400_000),
        signingAlgorithm: alg,
        publicKey: leafKeys.publicKey,
        signingKey: caKey,
        extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: hostname }])],
      },
      webcrypto,
    );
    out.push({ hostname, tenant: `t${i % 100}`, certificateChainPem: cert.toString('pem'), privateKeyPem: leafKeyPem, clientCaPems: [clientCa.certPem] });
  }
  return out;
}

