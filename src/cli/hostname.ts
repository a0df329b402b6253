/**
 * `bouncer hostname …`: customer hostnames through the admin API
 * (docs/hostnames.md), and `rewrap`, which works on the database directly to
 * finish a key-encryption key rotation.
 */
import { Command, Option } from 'commander';
import { loadConfig } from '../config/load.js';
import { HOSTNAME_DEFAULTS } from '../config/defaults.js';
import { BouncerError } from '../core/errors.js';
import { HOSTNAME_STATES } from '../hostnames/lifecycle.js';
import { loadKekRing } from '../hostnames/key-envelope.js';
import { rewrapAll } from '../hostnames/rewrap.js';
import { adminAction, createAdminClient, printJson, readListPages, readUpload, withAdminOptions, type AdminClientOptions } from './admin-client.js';

interface HostnameJson {
  hostname: string;
  tenant: string;
  source: string;
  state: string;
  reason: string | null;
  reason_description: string | null;
  reason_detail: string | null;
  certificate: { not_before: string; not_after: string; renew_at: string | null; fingerprint_sha256: string; issuer: string; dns_names: string[] } | null;
  next_attempt_at: string | null;
  attempts: number;
  updated_at: string;
}

type Opts = AdminClientOptions & Record<string, unknown>;
const enc = encodeURIComponent;

function stateText(h: HostnameJson): string {
  return h.reason === null ? h.state : `${h.state} (${h.reason})`;
}

function printOne(verb: string, h: HostnameJson): void {
  process.stdout.write(`${verb} ${h.hostname} for tenant ${h.tenant}: ${stateText(h)}\n`);
}

function addCommand(): Command {
  return withAdminOptions(
    new Command('add')
      .description('add a customer hostname; bouncer obtains its certificate by ACME (HTTP-01) in the background')
      .argument('<hostname>', 'the DNS name (Unicode names are converted to their xn-- form)')
      .requiredOption('--tenant <name>', 'the tenant it belongs to')
      .addHelpText('after', '\nExample:\n  bouncer hostname add pay.customer.example --tenant customer\n  bouncer hostname show pay.customer.example   # follow the state'),
  ).action(
    adminAction(async (hostname: string, opts: Opts) => {
      const h = await createAdminClient(opts).request<HostnameJson>('POST', '/v1/custom-hostnames', { tenant: opts.tenant, hostname });
      if (opts.json) printJson(h);
      else printOne('added', h);
    }),
  );
}

function uploadCommand(): Command {
  return withAdminOptions(
    new Command('upload')
      .description("store a customer's certificate and key for a hostname (added if new); checked before it is stored")
      .argument('<hostname>')
      .requiredOption('--tenant <name>', 'the tenant it belongs to')
      .requiredOption('--cert <file>', 'PEM chain: leaf first, then intermediates')
      .requiredOption('--key <file>', "PEM private key of the leaf (unencrypted; stored encrypted)")
      .option('--intermediates <file>', 'PEM intermediates or roots the chain may end at'),
  ).action(
    adminAction(async (hostname: string, opts: Opts) => {
      const body: Record<string, unknown> = {
        tenant: opts.tenant,
        certificate_chain_pem: readUpload(String(opts.cert), 'certificate file'),
        private_key_pem: readUpload(String(opts.key), 'key file'),
      };
      if (typeof opts.intermediates === 'string') body.intermediates_pem = readUpload(opts.intermediates, 'intermediates file');
      const h = await createAdminClient(opts).request<HostnameJson>('PUT', `/v1/custom-hostnames/${enc(hostname)}/certificate`, body);
      if (opts.json) printJson(h);
      else printOne('uploaded', h);
    }),
  );
}

function listCommand(): Command {
  return withAdminOptions(
    new Command('list')
      .description('list customer hostnames with their state and reason')
      .option('--tenant <name>', 'only this tenant')
      .addOption(new Option('--state <state>', 'only this state').choices([...HOSTNAME_STATES]))
      .option('--limit <n>', `hostnames per page (1-${HOSTNAME_DEFAULTS.listMax})`, String(HOSTNAME_DEFAULTS.listDefault))
      .option('--after <hostname>', 'start after this hostname')
      .option('--all', 'follow every page'),
  ).action(
    adminAction(async (opts: Opts) => {
      const listed = await readListPages<HostnameJson>(createAdminClient(opts), opts, HOSTNAME_DEFAULTS.listMax, (limit, after) => {
        const q = [`limit=${limit}`, ...(typeof opts.tenant === 'string' ? [`tenant=${enc(opts.tenant)}`] : []), ...(typeof opts.state === 'string' ? [`state=${enc(opts.state)}`] : []), ...(after !== undefined ? [`after=${enc(after)}`] : [])];
        return `/v1/custom-hostnames?${q.join('&')}`;
      });
      if (opts.json) return printJson(listed);
      const { items, next } = listed;
      if (items.length === 0) process.stdout.write('no custom hostnames\n');
      const w = Math.max(8, ...items.map((h) => h.hostname.length));
      const t = Math.max(6, ...items.map((h) => h.tenant.length));
      if (items.length > 0) process.stdout.write(`${'HOSTNAME'.padEnd(w)}  ${'TENANT'.padEnd(t)}  SOURCE  NOT AFTER             STATE\n`);
      for (const h of items) {
        process.stdout.write(`${h.hostname.padEnd(w)}  ${h.tenant.padEnd(t)}  ${h.source.padEnd(6)}  ${(h.certificate?.not_after ?? '-').padEnd(20)}  ${stateText(h)}\n`);
      }
      if (next !== undefined) process.stdout.write(`(more: --after ${next}, or --all)\n`);
    }),
  );
}

function showCommand(): Command {
  return withAdminOptions(new Command('show').description('show one customer hostname: state, reason, certificate').argument('<hostname>')).action(
    adminAction(async (hostname: string, opts: Opts) => {
      const h = await createAdminClient(opts).request<HostnameJson & { certificate_chain_pem: string | null }>('GET', `/v1/custom-hostnames/${enc(hostname)}`);
      if (opts.json) return printJson(h);
      const c = h.certificate;
      const lines = [
        `${h.hostname} (tenant ${h.tenant}, ${h.source}): ${stateText(h)}`,
        ...(h.reason_description !== null ? [`  why: ${h.reason_description}`] : []),
        ...(h.reason_detail !== null ? [`  detail: ${h.reason_detail}`] : []),
        ...(c !== null ? [`  certificate: ${c.dns_names.join(', ')}, issued by ${c.issuer}`, `  valid: ${c.not_before} to ${c.not_after}${c.renew_at !== null ? `, renewal from ${c.renew_at}` : ''}`, `  sha256: ${c.fingerprint_sha256}`] : ['  certificate: none yet']),
        ...(h.next_attempt_at !== null ? [`  next attempt: ${h.next_attempt_at}${h.attempts > 0 ? ` (${h.attempts} failed in a row)` : ''}`] : []),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    }),
  );
}

function retryCommand(): Command {
  return withAdminOptions(new Command('retry').description('validate and order again now (after fixing DNS, say)').argument('<hostname>')).action(
    adminAction(async (hostname: string, opts: Opts) => {
      const h = await createAdminClient(opts).request<HostnameJson>('POST', `/v1/custom-hostnames/${enc(hostname)}/retry`);
      if (opts.json) printJson(h);
      else printOne('retrying', h);
    }),
  );
}

function removeCommand(): Command {
  return withAdminOptions(new Command('remove').description('stop serving a customer hostname and forget its certificate and key').argument('<hostname>')).action(
    adminAction(async (hostname: string, opts: Opts) => {
      await createAdminClient(opts).request<unknown>('DELETE', `/v1/custom-hostnames/${enc(hostname)}`);
      if (opts.json) printJson({ removed: hostname });
      else process.stdout.write(`removed ${hostname}\n`);
    }),
  );
}

function rewrapCommand(): Command {
  return new Command('rewrap')
    .description("re-wrap every stored hostname and ACME account key with the keyring's first (active) key-encryption key; the last step of a KEK rotation")
    .requiredOption('-c, --config <file>', 'the YAML config bouncer serves with (its store.postgres and hostnames sections are used)')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nRotation: put the new key first in the keyring, keep the old one after it, restart every replica,\nrun this, then remove the old key (docs/hostnames.md).')
    .action(async (opts: { config: string; json?: boolean }) => {
      const config = await loadConfig(opts.config, process.env);
      if (!config.hostnames) throw new BouncerError('ERR_CLI_USAGE', `${opts.config} has no hostnames section: there are no hostname keys to re-wrap`);
      if (!config.store.postgres) {
        throw new BouncerError('ERR_CLI_USAGE', 'hostnames are kept in memory here (no store.postgres): nothing is stored to re-wrap; restarting with the new keyring is the whole rotation');
      }
      const keys = loadKekRing({ file: config.hostnames.kekFile, env: config.hostnames.kekEnv });
      const { createPgHostnameStore } = await import('../hostnames/pg-store.js');
      const store = await createPgHostnameStore({ connection: { connectionString: config.store.postgres.url, application_name: 'bouncer-rewrap' } });
      try {
        const report = await rewrapAll(store, keys);
        if (opts.json) printJson({ active_kek: keys.activeId, ...report });
        else {
          const before = Object.entries(report.byKek).map(([id, n]) => `${id}: ${n}`).join(', ') || 'none';
          process.stdout.write(`re-wrapped ${report.rewrapped} of ${report.total} keys with '${keys.activeId}' (already on it: ${report.current}; changed meanwhile: ${report.changedMeanwhile}); before: ${before}\n`);
        }
      } finally {
        await store.close();
      }
    });
}

/** `bouncer hostname`, with its subcommands. */
export function hostnameCommand(): Command {
  return new Command('hostname')
    .description('customer hostnames and their certificates through the admin API (--url / BOUNCER_ADMIN_URL, token from BOUNCER_ADMIN_TOKEN or --token-file)')
    .addCommand(addCommand())
    .addCommand(uploadCommand())
    .addCommand(listCommand())
    .addCommand(showCommand())
    .addCommand(retryCommand())
    .addCommand(removeCommand())
    .addCommand(rewrapCommand());
}
