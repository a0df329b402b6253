/** `bouncer decisions`: recent access decisions, from the admin API, newest first. */
import { Command } from 'commander';
import { parseDuration } from '../config/values.js';
import { AdminClientError, adminAction, createAdminClient, printJson, withAdminOptions, type AdminClientOptions } from './admin-client.js';

interface DecisionItem {
  time: string;
  host: string;
  method: string;
  path: string;
  tenant: string | null;
  app: string | null;
  allow: boolean;
  status: number;
  reason: string;
  sub: string | null;
}

/** `--since` as RFC 3339, or a duration back from now (`15m`, `2h`, `1d`). */
export function sinceToIso(value: string, nowMs: number): string {
  if (/^\d{4}-\d{2}-\d{2}T/.test(value) && Number.isFinite(Date.parse(value))) return new Date(Date.parse(value)).toISOString();
  const d = parseDuration(value, 1, 366 * 86_400);
  if (!d.ok) throw new AdminClientError('ERR_CLI_USAGE', `--since must be an RFC 3339 time (2026-11-23T12:00:00Z) or a duration back from now (15m, 2h, 1d); got '${value}'`);
  return new Date(nowMs - d.value * 1000).toISOString();
}

type Opts = AdminClientOptions & { since?: string; host?: string; tenant?: string; reason?: string; allow?: boolean; deny?: boolean; limit?: string };

export function decisionsCommand(): Command {
  return withAdminOptions(
    new Command('decisions')
      .description("recent access decisions on the replica serving the admin API, newest first")
      .option('--since <when>', 'RFC 3339 time, or a duration back from now (15m, 2h)')
      .option('--host <host>', 'only this host')
      .option('--tenant <name>', 'only this tenant')
      .option('--reason <code>', 'only this reason code (docs/reasons.md)')
      .option('--allow', 'only allowed requests')
      .option('--deny', 'only denied requests')
      .option('--limit <n>', 'at most this many (1-1000)', '50')
      .addHelpText('after', '\nExample:\n  bouncer decisions --tenant acme --deny --since 15m'),
  ).action(
    adminAction(async (opts: Opts) => {
      if (opts.allow === true && opts.deny === true) throw new AdminClientError('ERR_CLI_USAGE', 'give --allow or --deny, not both');
      const q = new URLSearchParams();
      if (opts.since !== undefined) q.set('since', sinceToIso(opts.since, Date.now()));
      if (opts.host !== undefined) q.set('host', opts.host);
      if (opts.tenant !== undefined) q.set('tenant', opts.tenant);
      if (opts.reason !== undefined) q.set('reason', opts.reason);
      if (opts.allow === true) q.set('allow', 'true');
      if (opts.deny === true) q.set('allow', 'false');
      if (opts.limit !== undefined) q.set('limit', opts.limit);
      const out = await createAdminClient(opts).request<{ items: DecisionItem[] }>('GET', `/v1/decisions?${q.toString()}`);
      if (opts.json) return printJson(out);
      if (out.items.length === 0) process.stdout.write('no matching decisions\n');
      for (const d of out.items) {
        const who = [d.tenant && `tenant=${d.tenant}`, d.app && `app=${d.app}`, d.sub && `sub=${d.sub}`].filter(Boolean).join(' ');
        process.stdout.write(`${d.time}  ${d.allow ? 'ALLOW' : 'DENY '} ${d.status} ${d.reason.padEnd(24)} ${d.method} ${d.host}${d.path}${who ? `  ${who}` : ''}\n`);
      }
    }),
  );
}
