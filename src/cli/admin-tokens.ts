/**
 * `bouncer admin …`: helpers around the admin API itself: make a token and the
 * hash the config needs, check which token you are, read the audit trail.
 */
import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { hashAdminToken } from '../admin/tokens.js';
import { sinceToIso } from './decisions.js';
import { AdminClientError, adminAction, createAdminClient, printJson, withAdminOptions, type AdminClientOptions } from './admin-client.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

function hashTokenCommand(): Command {
  return new Command('hash-token')
    .description('print the secret_sha256 of a token read from stdin; with --generate, make a new token and print both')
    .option('--generate', 'generate a random 256-bit token (64 hex characters)')
    .addHelpText('after', '\nExamples:\n  bouncer admin hash-token --generate\n  printf %s "$TOKEN" | bouncer admin hash-token')
    .action(
      adminAction(async (opts: { generate?: boolean }) => {
        if (opts.generate === true) {
          const token = randomBytes(32).toString('hex');
          process.stdout.write(`token:         ${token}\nsecret_sha256: ${hashAdminToken(token)}\n`);
          process.stderr.write('Keep the token in a secret store; the config gets only secret_sha256.\n');
          return;
        }
        // Tokens never come from argv (shell history, ps); stdin keeps them out of both.
        const token = (await readStdin()).trim();
        if (token === '') throw new AdminClientError('ERR_CLI_USAGE', 'pipe the token on stdin (printf %s "$TOKEN" | bouncer admin hash-token), or use --generate');
        process.stdout.write(`${hashAdminToken(token)}\n`);
      }),
    );
}

function whoamiCommand(): Command {
  return withAdminOptions(new Command('whoami').description('show the id and scopes of the token in use')).action(
    adminAction(async (opts: AdminClientOptions) => {
      const me = await createAdminClient(opts).request<{ id: string; scopes: string[] }>('GET', '/v1/whoami');
      if (opts.json) return printJson(me);
      process.stdout.write(`token ${me.id}: ${me.scopes.join(', ')}\n`);
    }),
  );
}

interface AuditItem {
  time: string;
  actor: string;
  action: string;
  target: string | null;
  status: number;
  result: string;
}

function auditCommand(): Command {
  return withAdminOptions(
    new Command('audit')
      .description('recent changes made through the admin API, newest first')
      .option('--since <when>', 'RFC 3339 time, or a duration back from now (15m, 2h)')
      .option('--actor <id>', 'only changes by this admin token')
      .option('--target <name>', 'only changes to this tenant, session or user')
      .option('--limit <n>', 'at most this many (1-1000)', '50'),
  ).action(
    adminAction(async (opts: AdminClientOptions & { since?: string; actor?: string; target?: string; limit?: string }) => {
      const q = new URLSearchParams();
      if (opts.since !== undefined) q.set('since', sinceToIso(opts.since, Date.now()));
      if (opts.actor !== undefined) q.set('actor', opts.actor);
      if (opts.target !== undefined) q.set('target', opts.target);
      if (opts.limit !== undefined) q.set('limit', opts.limit);
      const out = await createAdminClient(opts).request<{ items: AuditItem[] }>('GET', `/v1/audit?${q.toString()}`);
      if (opts.json) return printJson(out);
      if (out.items.length === 0) process.stdout.write('no matching changes\n');
      for (const e of out.items) process.stdout.write(`${e.time}  ${e.actor}  ${e.action}  ${e.target ?? '-'}  ${e.status} ${e.result}\n`);
    }),
  );
}

export function adminCommand(): Command {
  return new Command('admin').description('admin API tokens and audit trail').addCommand(hashTokenCommand()).addCommand(whoamiCommand()).addCommand(auditCommand());
}
