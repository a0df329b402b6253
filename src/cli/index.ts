import { Command, CommanderError } from 'commander';
import { BouncerError } from '../core/errors.js';
import { BUILD_INFO } from '../version.js';
import { caCreateCommand } from './ca-create.js';
import { certIssueCommand } from './cert-issue.js';
import { certVerifyCommand } from './cert-verify.js';
import { configValidateCommand } from './config-validate.js';
import { envoyRenderCommand } from './envoy-render.js';
import { serveCommand } from './serve.js';
import { adminCommand } from './admin-tokens.js';
import { decisionsCommand } from './decisions.js';
import { sessionCommand } from './session-revoke.js';
import { configEntryCommands } from './config-entries.js';
import { tenantCommand } from './tenant.js';
import { hostnameCommand } from './hostname.js';
import { accessExplainCommand } from './access-explain.js';

/** The `bouncer` command tree; exported so tests can run it in-process. */
export function buildProgram(): Command {
  const program = new Command('bouncer')
    .description('zero-trust access for Envoy: per-tenant mTLS and policy over ext_authz')
    .version(BUILD_INFO.version)
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(serveCommand());
  program.addCommand(new Command('config').description('work with config files').addCommand(configValidateCommand()));
  program.addCommand(new Command('ca').description('tenant certificate authorities').addCommand(caCreateCommand()));
  program.addCommand(
    new Command('cert').description('device certificates').addCommand(certIssueCommand()).addCommand(certVerifyCommand()),
  );
  program.addCommand(new Command('access').description('access decisions').addCommand(accessExplainCommand()));
  program.addCommand(new Command('envoy').description('Envoy integration').addCommand(envoyRenderCommand()));
  // Clients of the admin API (docs/admin-api.md).
  program.addCommand(tenantCommand()).addCommand(hostnameCommand()).addCommand(sessionCommand()).addCommand(decisionsCommand()).addCommand(adminCommand());
  for (const c of configEntryCommands()) program.addCommand(c);
  for (const c of program.commands) {
    c.exitOverride();
    for (const sub of c.commands) sub.exitOverride();
  }
  return program;
}

/** Runs the CLI; returns the exit code instead of exiting so callers can decide. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version output are exits with code 0; commander already printed usage errors.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof BouncerError) {
      process.stderr.write(`error: ${err.code}: ${err.message}\n`);
      return err.code === 'ERR_CLI_USAGE' ? 2 : 1;
    }
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
