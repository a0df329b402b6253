/** `bouncer session revoke`: sign one session, or a user everywhere, out through the admin API. */
import { Command } from 'commander';
import { AdminClientError, adminAction, createAdminClient, printJson, withAdminOptions, type AdminClientOptions } from './admin-client.js';

interface Revoked {
  revoked: 'session' | 'user';
  target: string;
  effective_until: string;
  propagated: boolean;
}

export function sessionCommand(): Command {
  const revoke = withAdminOptions(
    new Command('revoke')
      .description('revoke one session (--sid) or every session of a user issued until now (--user)')
      .option('--sid <sid>', 'session id (the sid claim, as in the decision log)')
      .option('--user <sub>', 'user (the sub claim)')
      .addHelpText('after', '\nExamples:\n  bouncer session revoke --sid 3f1c…\n  bouncer session revoke --user okta|00u1abcd'),
  ).action(
    adminAction(async (opts: AdminClientOptions & { sid?: string; user?: string }) => {
      if ((opts.sid === undefined) === (opts.user === undefined)) throw new AdminClientError('ERR_CLI_USAGE', 'give exactly one of --sid SESSION_ID or --user SUB');
      const client = createAdminClient(opts);
      const out =
        opts.sid !== undefined
          ? await client.request<Revoked>('POST', '/v1/revocations/sessions', { sid: opts.sid })
          : await client.request<Revoked>('POST', '/v1/revocations/users', { sub: opts.user });
      if (opts.json) return printJson(out);
      const what = out.revoked === 'session' ? `session ${out.target}: refused until ${out.effective_until}` : `user ${out.target}: sessions issued until ${out.effective_until} are refused`;
      process.stdout.write(`revoked ${what}\n`);
      if (!out.propagated) process.stdout.write('warning: the shared revocation store has not confirmed it yet; other replicas refuse the session once it has\n');
    }),
  );
  return new Command('session').description('login sessions').addCommand(revoke);
}
