import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { explainRequest, type AssertedClaims, type ExplainQuery } from '../authz/explain.js';
import { loadConfig } from '../config/load.js';
import { BouncerError } from '../core/errors.js';
import { openExplainState } from './explain-state.js';
import { parseMoment } from './cert-verify.js';
import { renderExplanation } from './explain-text.js';

/** Exit status when the request would be denied; 1 stays "the command failed", 2 "usage error". */
export const EXIT_DENY = 3;

interface ExplainOptions {
  config: string;
  host: string;
  path: string;
  method: string;
  ip?: string;
  sni?: string;
  accept?: string;
  cert?: string;
  session?: string;
  email?: string;
  sub?: string;
  group: string[];
  idp?: string;
  amr: string[];
  loginTime?: string;
  country?: string;
  serviceToken?: string;
  serviceTokenId?: string;
  at?: string;
  authOrigin?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, ...value.split(',').map((v) => v.trim()).filter((v) => v !== '')];

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new BouncerError('ERR_CLI_USAGE', `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function claimsFrom(o: ExplainOptions): AssertedClaims | undefined {
  const given = o.email !== undefined || o.sub !== undefined || o.group.length > 0 || o.idp !== undefined || o.amr.length > 0 || o.loginTime !== undefined;
  if (!given) return undefined;
  if (o.session !== undefined) throw new BouncerError('ERR_CLI_USAGE', 'give --session or claims (--email, --group, --idp, --amr, --login-time), not both');
  return { email: o.email, sub: o.sub, groups: o.group, idp: o.idp, amr: o.amr, loginTimeMs: o.loginTime !== undefined ? parseMoment(o.loginTime) : undefined };
}

function serviceTokenFrom(value: string | undefined): ExplainQuery['serviceToken'] {
  if (value === undefined) return undefined;
  const i = value.indexOf(':');
  if (i <= 0 || i === value.length - 1) throw new BouncerError('ERR_CLI_USAGE', '--service-token takes CLIENT_ID:SECRET');
  return { clientId: value.slice(0, i), clientSecret: value.slice(i + 1) };
}

/**
 * `bouncer access explain`: the decision ext_authz would make for a request
 * described on the command line, made by the same code, with the tenant, app
 * and policy that made it and how every other policy came out.
 */
export function accessExplainCommand(): Command {
  return new Command('explain')
    .description('explain the decision bouncer would make for a request, and which rules made it')
    .requiredOption('-c, --config <file>', 'bouncer config file')
    .requiredOption('--host <hostname>', 'Host (:authority) of the request')
    .option('--path <path>', 'path and query string', '/')
    .option('--method <method>', 'HTTP method', 'GET')
    .option('--ip <address>', 'client source IP, as Envoy reports it')
    .option('--sni <name>', 'TLS server name (default: the host)')
    .option('--accept <value>', 'Accept header (default text/html: a browser, which is sent to sign in; application/json gets 401)')
    .option('--cert <file>', 'client certificate PEM, leaf first, then any intermediates the client sends')
    .option('--session <jwt>', "an app session token (the __Host-bouncer_session cookie), verified with auth.session.keys_dir's keys")
    .option('--email <address>', 'asserted claim: email (not verified)')
    .option('--sub <subject>', 'asserted claim: subject (default idp:email)')
    .option('--group <name>', 'asserted claim: a group (repeat, or comma-separated)', collect, [])
    .option('--idp <id>', 'asserted claim: IdP id')
    .option('--amr <method>', 'asserted claim: authentication method, RFC 8176 (repeat, or comma-separated)', collect, [])
    .option('--login-time <time>', 'asserted claim: when the user signed in (ISO 8601 or Unix seconds)')
    .option('--country <code>', 'country, as the trusted country header would carry it')
    .option('--service-token <id:secret>', 'service token client id and secret')
    .option('--service-token-id <id>', 'asserted: a service token id, taken as verified (not checked)')
    .option('--at <time>', 'decide at another moment: ISO 8601 or Unix seconds (default: now)')
    .option('--auth-origin <url>', 'public origin of the login service, for login redirects (default https://<auth.domain>)')
    .option('--json', 'print the explanation as JSON')
    .addHelpText(
      'after',
      [
        '',
        'Example:',
        '  bouncer access explain -c bouncer.yaml --host wiki.acme.test --path /admin --email ann@acme.test --group staff --idp okta --amr mfa',
        '',
        'Claims given with --email/--group/--idp/--amr/--login-time are asserted: the output says so.',
        'Exit status: 0 allow, 3 deny (any denial, redirects to login included), 1 error, 2 usage error.',
      ].join('\n'),
    )
    .action(async (opts: ExplainOptions) => {
      const nowMs = opts.at !== undefined ? parseMoment(opts.at) : Date.now();
      const config = await loadConfig(opts.config, process.env, { now: nowMs });
      const claims = claimsFrom(opts);
      const explain = await openExplainState(config, nowMs, opts.authOrigin);
      try {
        if (opts.session !== undefined && !explain.canVerifySessions) {
          throw new BouncerError(
            'ERR_CLI_USAGE',
            'cannot verify --session: the config has no auth.session.keys_dir, so the running server signs with keys only it holds; assert the claims instead (--email, --group…) or ask the admin API',
          );
        }
        const query: ExplainQuery = {
          host: opts.host,
          path: opts.path,
          method: opts.method,
          sourceIp: opts.ip,
          sni: opts.sni,
          accept: opts.accept,
          certificatePem: opts.cert !== undefined ? readText(opts.cert, 'certificate') : undefined,
          sessionToken: opts.session,
          claims,
          serviceToken: serviceTokenFrom(opts.serviceToken),
          serviceTokenId: opts.serviceTokenId,
          country: opts.country,
        };
        let result;
        try {
          result = await explainRequest(explain.state, query, nowMs, { idpTypes: explain.idpTypes, notes: opts.session !== undefined ? explain.sessionNotes : [] });
        } catch (err) {
          if (err instanceof BouncerError && err.code === 'ERR_EXPLAIN_INPUT') throw new BouncerError('ERR_CLI_USAGE', err.message);
          throw err;
        }
        process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : renderExplanation(result));
        if (result.decision === 'deny') process.exitCode = EXIT_DENY;
      } finally {
        await explain.close();
      }
    });
}
