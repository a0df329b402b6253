/**
 * The SAML IdP's signing key and certificate: the configured pair
 * (`auth.saml_idp`), else one generated once and kept in `auth.session.keys_dir`
 * (so SPs that pinned it keep working across restarts), else one in memory.
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuthConfig } from '../../config/types.js';
import { createRootCa } from '../../pki/generate.js';
import type { SamlIdpSigning } from './response.js';

/** File names inside keys_dir. */
export const SAML_IDP_CERT_FILE = 'saml-idp-cert.pem';
export const SAML_IDP_KEY_FILE = 'saml-idp-key.pem';

/** SPs pin this certificate; rotating it means reconfiguring every SP, so it lives long. */
export const GENERATED_CERT_DAYS = 10 * 365;

/**
 * Returns the IdP signing pair for `auth`. Call once at start (and after a reload
 * that changes `auth.saml_idp`); the result is passed to `registerSamlIdp`.
 *
 * @param nowMs Start of the generated certificate's validity (minus five minutes of skew).
 * @example
 * const signing = await loadSamlIdpSigning(config.auth, Date.now());
 * registerSamlIdp(app, { ...deps, signing: () => signing });
 */
export async function loadSamlIdpSigning(auth: Pick<AuthConfig, 'samlIdp' | 'keysDir' | 'domain'>, nowMs: number): Promise<SamlIdpSigning> {
  if (auth.samlIdp) return auth.samlIdp;
  if (auth.keysDir !== undefined) {
    const stored = await readStored(auth.keysDir);
    if (stored) return stored;
  }
  const generated = await generateSigning(auth.domain, nowMs);
  if (auth.keysDir !== undefined) await store(auth.keysDir, generated);
  return generated;
}

/**
 * A new RSA-2048 key with a self-signed certificate. RSA because every SAML SP
 * verifies RSA-SHA256; EC support among SPs is patchy.
 */
export async function generateSigning(domain: string, nowMs: number): Promise<SamlIdpSigning> {
  const pair = await createRootCa({
    commonName: `bouncer SAML IdP ${domain}`.slice(0, 64),
    keyAlgorithm: 'rsa-2048',
    notBefore: new Date(nowMs - 5 * 60_000),
    notAfter: new Date(nowMs + GENERATED_CERT_DAYS * 86_400_000),
  });
  return { certPem: pair.certPem, keyPem: pair.keyPem };
}

async function readStored(dir: string): Promise<SamlIdpSigning | undefined> {
  let certPem: string;
  let keyPem: string;
  try {
    [certPem, keyPem] = await Promise.all([readFile(join(dir, SAML_IDP_CERT_FILE), 'utf8'), readFile(join(dir, SAML_IDP_KEY_FILE), 'utf8')]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  // A pair that does not match would sign assertions no SP can verify: fail loudly instead.
  const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  if (!fromKey.equals(new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' }))) {
    throw new Error(`${join(dir, SAML_IDP_KEY_FILE)} does not belong to ${join(dir, SAML_IDP_CERT_FILE)}`);
  }
  return { certPem, keyPem };
}

async function store(dir: string, s: SamlIdpSigning): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Write then rename, key first: a crash never leaves a certificate without its key.
  for (const [name, data, mode] of [
    [SAML_IDP_KEY_FILE, s.keyPem, 0o600],
    [SAML_IDP_CERT_FILE, s.certPem, 0o644],
  ] as const) {
    const tmp = join(dir, `.${name}.${process.pid}.tmp`);
    await writeFile(tmp, data, { mode });
    await rename(tmp, join(dir, name));
  }
}
