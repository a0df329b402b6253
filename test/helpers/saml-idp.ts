import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Knobs of the fixture's `POST /test/login-response` (see test/fixtures/saml-idp.mjs). */
export interface LoginResponseRequest {
  /** The redirect URL from `connector.start()`: the IdP reads ACS URL, SP entity ID and request ID from its AuthnRequest. */
  redirectUrl?: string;
  acsUrl?: string;
  spEntityId?: string;
  inResponseTo?: string;
  user: { email?: string; nameId?: string; name?: string; groups?: string[] };
  sign?: 'assertion' | 'response' | 'both' | 'none';
  signWith?: 'idp' | 'attacker';
  omitKeyInfo?: boolean;
  audience?: string;
  recipient?: string;
  destination?: string;
  assertionInResponseTo?: string;
  responseInResponseTo?: string;
  issuer?: string;
  statusCode?: string;
  nameIdFormat?: string;
  authnContextClassRef?: string;
  notBeforeOffsetSec?: number;
  notOnOrAfterOffsetSec?: number;
  authnInstantOffsetSec?: number;
  wrap?: 'extra-assertion' | 'moved-assertion' | 'same-id-assertion';
  evilNameId?: string;
  doctype?: boolean;
  nameIdComment?: boolean;
  nameIdCommentAt?: number;
}

export interface LoginResponse {
  /** base64, as the browser would POST it. */
  samlResponse: string;
  relayState: string;
  xml: string;
  assertionId: string;
  authnRequest?: { id: string; acsUrl: string; issuer: string; destination: string };
}

export interface SamlIdp {
  /** `http://127.0.0.1:<port>` */
  baseUrl: string;
  entityId: string;
  metadataXml: string;
  loginResponse(req: LoginResponseRequest): Promise<LoginResponse>;
  close(): Promise<void>;
}

/**
 * Starts the samlify test IdP as its own process on an ephemeral loopback port and
 * fetches its metadata. Extra environment (e.g. SAML_IDP_USERS) is passed through.
 */
export async function startSamlIdp(env: Record<string, string> = {}): Promise<SamlIdp> {
  const script = fileURLToPath(new URL('../fixtures/saml-idp.mjs', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = await new Promise<{ port: number; entityId: string }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`SAML IdP did not start in 20 s: ${stderr}`)), 20_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(JSON.parse(out.slice(0, nl)) as { port: number; entityId: string });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`SAML IdP exited with ${code}: ${stderr}`));
    });
  });
  const baseUrl = `http://127.0.0.1:${ready.port}`;
  const metadataXml = await (await fetch(`${baseUrl}/metadata`)).text();
  return {
    baseUrl,
    entityId: ready.entityId,
    metadataXml,
    async loginResponse(req) {
      const res = await fetch(`${baseUrl}/test/login-response`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req) });
      if (!res.ok) throw new Error(`SAML IdP answered ${res.status}: ${await res.text()}`);
      return (await res.json()) as LoginResponse;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
