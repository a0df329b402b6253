import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { parseCertificateBundle, type ParsedCert } from '../core/cert-parse.js';
import { trustProblemsAt, trustStatusAt } from '../core/trust-anchor.js';
import { verifyClientChain, type ChainResult } from '../core/cert-path.js';
import { BouncerError } from '../core/errors.js';
import { normalizeHost, resolveTenant, buildTenantIndex } from '../core/tenant-index.js';
import type { Tenant } from '../core/tenant.js';

interface VerifyOptions {
  config: string;
  tenant?: string;
  host?: string;
  cert: string;
  chain?: string;
  at?: string;
  json?: boolean;
}

/** Accepts ISO 8601 (`2027-01-31T00:00:00Z`, `2027-01-31`) or Unix seconds. */
export function parseMoment(value: string): number {
  const ms = /^\d{9,11}$/.test(value) ? Number(value) * 1000 : Date.parse(value);
  if (!Number.isFinite(ms)) {
    throw new BouncerError('ERR_CLI_USAGE', `--at must be an ISO 8601 time (2027-01-31T12:00:00Z) or Unix seconds, got "${value}"`);
  }
  return ms;
}

function readPemFile(path: string, what: string): ParsedCert[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new BouncerError('ERR_CLI_USAGE', `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return parseCertificateBundle(text);
  } catch (err) {
    throw new BouncerError('ERR_CERT_PARSE', `${what} ${path}: ${(err as Error).message}`);
  }
}

function pickTenant(tenants: readonly Tenant[], opts: VerifyOptions): Tenant {
  if (opts.tenant !== undefined && opts.host !== undefined) {
    throw new BouncerError('ERR_CLI_USAGE', 'give either --tenant or --host, not both');
  }
  if (opts.tenant !== undefined) {
    const t = tenants.find((x) => x.name === opts.tenant);
    if (!t) throw new BouncerError('ERR_CLI_USAGE', `no tenant named "${opts.tenant}" in ${opts.config} (tenants: ${tenants.map((x) => x.name).slice(0, 10).join(', ')}${tenants.length > 10 ? ', …' : ''})`);
    return t;
  }
  if (opts.host !== undefined) {
    const host = normalizeHost(opts.host);
    const t = host === '' ? undefined : resolveTenant(buildTenantIndex(tenants), host);
    if (!t) throw new BouncerError('ERR_CLI_USAGE', `no tenant serves hostname "${opts.host}"`);
    return t;
  }
  throw new BouncerError('ERR_CLI_USAGE', 'say which tenant to check against: --tenant NAME or --host HOSTNAME');
}

function describe(c: ParsedCert): string {
  return `${c.subject} (serial ${c.serial}, ${new Date(c.notBefore).toISOString()} → ${new Date(c.notAfter).toISOString()})`;
}

/**
 * `bouncer cert verify`: runs the exact path validation the ext_authz server runs,
 * for one certificate and one tenant, and says why it passes or fails.
 */
export function certVerifyCommand(): Command {
  return new Command('verify')
    .description("explain whether a client certificate passes a tenant's mTLS check, and why")
    .requiredOption('-c, --config <file>', 'bouncer config file')
    .option('--tenant <name>', 'tenant to check against')
    .option('--host <hostname>', 'or: the hostname the client would call (selects its tenant)')
    .requiredOption('--cert <file>', 'client certificate PEM (may also hold its intermediates, leaf first)')
    .option('--chain <file>', 'intermediate certificates PEM, as the client would send them')
    .option('--at <time>', 'check at another moment: ISO 8601 or Unix seconds (default: now)')
    .option('--json', 'print the verdict as JSON')
    .addHelpText('after', '\nExample:\n  bouncer cert verify -c bouncer.yaml --tenant acme --cert laptop.pem --at 2027-06-01T00:00:00Z\n\nExit status: 0 when the certificate would be accepted, 1 when refused, 2 on usage errors.')
    .action(async (opts: VerifyOptions) => {
      const now = opts.at !== undefined ? parseMoment(opts.at) : Date.now();
      const config = await loadConfig(opts.config, process.env, { now });
      const tenant = pickTenant(config.tenants, opts);
      const presented = readPemFile(opts.cert, 'certificate');
      const leaf = presented[0] as ParsedCert;
      const intermediates = [...presented.slice(1), ...(opts.chain !== undefined ? readPemFile(opts.chain, 'chain') : [])].filter(
        (c) => c.fingerprint256 !== leaf.fingerprint256,
      );
      const at = new Date(now).toISOString();

      if (tenant.mtls.mode === 'off' || tenant.mtls.trust === null) {
        const out = { tenant: tenant.name, at, ok: true, reason: 'mtls_off', detail: `tenant ${tenant.name} has mtls mode off; certificates are not checked` };
        process.stdout.write(opts.json ? `${JSON.stringify(out)}\n` : `PASS ${out.detail}\n`);
        return;
      }
      // As the ext_authz verifier does: a tenant with no usable CA at `now` is the tenant's fault, said as such.
      const trust = tenant.mtls.trust;
      const result: ChainResult =
        trustStatusAt(trust, now) === 'unusable'
          ? { ok: false, reason: 'tenant_trust_unusable', detail: `tenant ${tenant.name} has no usable CA certificate: ${trustProblemsAt(trust, now).map((p) => p.message).join('; ')}` }
          : verifyClientChain(leaf, intermediates, trust, now);
      if (opts.json) {
        const body = result.ok
          ? { tenant: tenant.name, at, ok: true, reason: 'mtls_verified', validUntil: new Date(result.validUntil).toISOString(), chain: result.chain.map((c) => ({ subject: c.subject, serial: c.serial, fingerprint256: c.fingerprint256 })) }
          : { tenant: tenant.name, at, ok: false, reason: result.reason, detail: result.detail };
        process.stdout.write(`${JSON.stringify(body)}\n`);
      } else if (result.ok) {
        const lines = [
          `PASS tenant ${tenant.name} (mode ${tenant.mtls.mode}) at ${at}`,
          `  leaf fingerprint sha256 ${leaf.fingerprint256}`,
          ...result.chain.map((c, i) => `  ${i === 0 ? 'leaf' : i === result.chain.length - 1 ? 'anchor' : 'via'}: ${describe(c)}`),
          `  accepted until ${new Date(result.validUntil).toISOString()}`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      } else {
        process.stdout.write(`FAIL tenant ${tenant.name} at ${at}: ${result.reason}\n  ${result.detail}\n  leaf: ${describe(leaf)}\n`);
      }
      if (!result.ok) process.exitCode = 1;
    });
}
