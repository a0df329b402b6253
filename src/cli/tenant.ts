/**
 * `bouncer tenant …`: manage tenants through the admin API, so operators need
 * no curl. Every subcommand prints a short human summary, or the API's JSON
 * with `--json`.
 */
import { readFileSync } from 'node:fs';
import { Argument, Command, Option } from 'commander';
import type { TenantJson, CaCertificateJson } from '../admin/tenant-json.js';
import { AdminClientError, adminAction, collect, createAdminClient, printJson, readListPages, readUpload, withAdminOptions, type AdminClientOptions } from './admin-client.js';

interface TenantChange {
  tenant: TenantJson;
  warnings: string[];
}

interface TenantListItem {
  name: string;
  hostnames: string[];
  mode: string;
  version: number;
}

const MODES = ['require', 'optional', 'off'];
const enc = encodeURIComponent;

function printChange(verb: string, change: TenantChange): void {
  const t = change.tenant;
  process.stdout.write(`${verb} tenant ${t.name} (version ${t.version}, mtls ${t.mtls.mode}): ${t.hostnames.join(', ')}\n`);
  for (const w of change.warnings) process.stdout.write(`warning: ${w}\n`);
}

/** A CRL file as PEM: DER files (what many CAs publish) are wrapped, PEM passes through. */
function readCrl(path: string): string {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    throw new AdminClientError('ERR_CLI_USAGE', `cannot read CRL file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const text = data.toString('utf8');
  if (text.includes('-----BEGIN')) return text;
  const b64 = data.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN X509 CRL-----\n${b64}\n-----END X509 CRL-----\n`;
}

type Opts = AdminClientOptions & Record<string, unknown>;

function addCommand(): Command {
  return withAdminOptions(
    new Command('add')
      .description('create a tenant (refused if the name exists)')
      .argument('<name>', 'tenant name: 1-63 characters of a-z 0-9 - _')
      .requiredOption('--hostname <host>', 'a DNS name the tenant is served on (repeat for more; *.suffix for a wildcard)', collect)
      .option('--ca <file>', 'PEM file with the CA certificates that issue client certificates (required unless --mode off)')
      .option('--crl <file>', 'a CRL file, PEM or DER (repeat for more)', collect)
      .addOption(new Option('--mode <mode>', 'client certificate check').choices(MODES).default('require'))
      .addOption(new Option('--stale-crl <policy>', 'what to do once a CRL is past nextUpdate').choices(['deny', 'use']))
      .option('--exempt-path <path>', 'a path that skips the certificate check (repeat for more)', collect)
      .addHelpText('after', '\nExample:\n  bouncer tenant add acme --hostname pay.acme.example --ca acme-ca.pem'),
  ).action(
    adminAction(async (name: string, opts: Opts) => {
      const mtls: Record<string, unknown> = { mode: opts.mode };
      if (typeof opts.ca === 'string') mtls.ca_pem = readUpload(opts.ca, 'CA file');
      if (Array.isArray(opts.crl)) mtls.crl_pems = (opts.crl as string[]).map(readCrl);
      if (typeof opts.staleCrl === 'string') mtls.stale_crl = opts.staleCrl;
      if (Array.isArray(opts.exemptPath)) mtls.exempt_paths = opts.exemptPath;
      const change = await createAdminClient(opts).request<TenantChange>('POST', '/v1/tenants', { name, hostnames: opts.hostname, mtls });
      if (opts.json) printJson(change);
      else printChange('created', change);
    }),
  );
}

function listCommand(): Command {
  return withAdminOptions(
    new Command('list')
      .description('list tenants, by name')
      .option('--limit <n>', 'tenants per page (1-1000)', '100')
      .option('--after <name>', 'start after this tenant name')
      .option('--all', 'follow every page'),
  ).action(
    adminAction(async (opts: Opts) => {
      const listed = await readListPages<TenantListItem>(createAdminClient(opts), opts, 1000, (limit, after) => `/v1/tenants?limit=${limit}${after !== undefined ? `&after=${enc(after)}` : ''}`);
      if (opts.json) {
        printJson(listed);
        return;
      }
      const { items, next } = listed;
      if (items.length === 0) process.stdout.write('no tenants\n');
      const width = Math.max(4, ...items.map((t) => t.name.length));
      if (items.length > 0) process.stdout.write(`${'NAME'.padEnd(width)}  MODE      VERSION  HOSTNAMES\n`);
      for (const t of items) process.stdout.write(`${t.name.padEnd(width)}  ${t.mode.padEnd(8)}  ${String(t.version).padStart(7)}  ${t.hostnames.join(', ')}\n`);
      if (next !== undefined) process.stdout.write(`(more: --after ${next}, or --all)\n`);
    }),
  );
}

function showCommand(): Command {
  return withAdminOptions(new Command('show').description('show one tenant and its CA certificates').argument('<name>')).action(
    adminAction(async (name: string, opts: Opts) => {
      const t = await createAdminClient(opts).request<TenantJson & { ca_certificates: CaCertificateJson[] }>('GET', `/v1/tenants/${enc(name)}`);
      if (opts.json) return printJson(t);
      const lines = [
        `tenant ${t.name} (version ${t.version}, updated ${t.updated_at})`,
        `  hostnames: ${t.hostnames.join(', ')}`,
        `  mtls: ${t.mtls.mode}, stale CRL: ${t.mtls.stale_crl}, CRLs: ${t.mtls.crl_pems.length}`,
        ...(t.mtls.exempt_paths.length > 0 ? [`  exempt paths: ${t.mtls.exempt_paths.join(', ')}`] : []),
        ...t.ca_certificates.map((c) => `  CA: ${c.subject} (sha256 ${c.fingerprint256}, until ${c.not_after})`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    }),
  );
}

function removeCommand(): Command {
  return withAdminOptions(
    new Command('remove').description('delete a tenant with its hostnames, CA bundle and CRLs').argument('<name>').option('--yes', 'confirm: this cannot be undone'),
  ).action(
    adminAction(async (name: string, opts: Opts) => {
      if (opts.yes !== true) throw new AdminClientError('ERR_CLI_USAGE', `removing tenant ${name} deletes its hostnames, CA bundle and CRLs at once on every replica; run again with --yes`);
      await createAdminClient(opts).request('DELETE', `/v1/tenants/${enc(name)}`);
      if (opts.json) printJson({ removed: name });
      else process.stdout.write(`removed tenant ${name}\n`);
    }),
  );
}

function hostnameCommand(which: 'add' | 'remove'): Command {
  const cmd = new Command(`${which}-hostname`)
    .description(which === 'add' ? 'add a hostname to a tenant' : "remove a hostname from a tenant (not its last: remove the tenant instead)")
    .argument('<name>', 'tenant')
    .argument('<hostname>', 'DNS name or *.suffix');
  return withAdminOptions(cmd).action(
    adminAction(async (name: string, hostname: string, opts: Opts) => {
      const client = createAdminClient(opts);
      const change =
        which === 'add'
          ? await client.request<TenantChange>('POST', `/v1/tenants/${enc(name)}/hostnames`, { hostname })
          : await client.request<TenantChange>('DELETE', `/v1/tenants/${enc(name)}/hostnames/${enc(hostname)}`);
      if (opts.json) printJson(change);
      else printChange('updated', change);
    }),
  );
}

function setCaCommand(): Command {
  return withAdminOptions(
    new Command('set-ca')
      .description("replace a tenant's CA bundle (checked: PEM parses, CA certificates only, none expired)")
      .argument('<name>', 'tenant')
      .argument('<ca-file>', 'PEM file with the new CA certificates'),
  ).action(
    adminAction(async (name: string, file: string, opts: Opts) => {
      const change = await createAdminClient(opts).request<TenantChange>('PUT', `/v1/tenants/${enc(name)}/ca`, { ca_pem: readUpload(file, 'CA file') });
      if (opts.json) printJson(change);
      else printChange('updated', change);
    }),
  );
}

function setCrlsCommand(): Command {
  return withAdminOptions(
    new Command('set-crls').description("replace a tenant's CRLs; with no file, remove them").argument('<name>', 'tenant').argument('[crl-files...]', 'CRL files, PEM or DER'),
  ).action(
    adminAction(async (name: string, files: string[], opts: Opts) => {
      const change = await createAdminClient(opts).request<TenantChange>('PUT', `/v1/tenants/${enc(name)}/crls`, { crl_pems: files.map(readCrl) });
      if (opts.json) printJson(change);
      else printChange('updated', change);
    }),
  );
}

function setModeCommand(): Command {
  return withAdminOptions(
    new Command('set-mode')
      .description("change a tenant's mTLS mode (off drops its CA bundle and CRLs; turning it back on needs --ca)")
      .argument('<name>', 'tenant')
      .addArgument(new Argument('<mode>', 'require, optional or off').choices(MODES))
      .option('--ca <file>', 'PEM CA bundle, needed when turning mTLS on for a tenant that has none'),
  ).action(
    adminAction(async (name: string, mode: string, opts: Opts) => {
      const body: Record<string, unknown> = { mode };
      if (typeof opts.ca === 'string') body.ca_pem = readUpload(opts.ca, 'CA file');
      const change = await createAdminClient(opts).request<TenantChange>('PATCH', `/v1/tenants/${enc(name)}/mtls`, body);
      if (opts.json) printJson(change);
      else printChange('updated', change);
    }),
  );
}

/** `bouncer tenant`, with its subcommands. */
export function tenantCommand(): Command {
  return new Command('tenant')
    .description('manage tenants through the admin API (--url / BOUNCER_ADMIN_URL, token from BOUNCER_ADMIN_TOKEN or --token-file)')
    .addCommand(addCommand())
    .addCommand(listCommand())
    .addCommand(showCommand())
    .addCommand(removeCommand())
    .addCommand(hostnameCommand('add'))
    .addCommand(hostnameCommand('remove'))
    .addCommand(setCaCommand())
    .addCommand(setCrlsCommand())
    .addCommand(setModeCommand());
}
