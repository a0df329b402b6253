import { relative, resolve } from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import type { BouncerConfig } from '../config/types.js';
import { BouncerError, ConfigError, type ConfigIssue } from '../core/errors.js';
import { TRUST_STATUSES, trustStatusAt, type TrustStatus } from '../core/trust-anchor.js';

/** What `bouncer config validate --json` prints: one object, on stdout, either way. */
export type ValidateReport =
  | {
      ok: true;
      file: string;
      tenants: number;
      hostnames: number;
      /** Tenants by the status of their trust data: a bad CA is a warning, and costs its own tenant only. */
      trust: Record<TrustStatus, number>;
      files: readonly string[];
      warnings: readonly string[];
      issues: [];
      /** True when `--strict` turned the warnings into a failure (exit 1). */
      failed_on_warnings: boolean;
    }
  | { ok: false; file: string; code: string; issues: readonly ConfigIssue[]; warnings: [] };

/** A path as the user would type it: relative when under the working directory. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') ? rel : path;
}

/** `file:line:col: field: message`, the shape compilers use, so editors and CI annotate the line. */
function formatIssue(i: ConfigIssue): string {
  const at = i.line !== undefined ? `${shown(i.file)}:${i.line}${i.column !== undefined ? `:${i.column}` : ''}` : shown(i.file);
  return `${at}: ${i.field}: ${i.message}`;
}

function summary(config: BouncerConfig): { tenants: number; hostnames: number; trust: Record<TrustStatus, number> } {
  const trust = Object.fromEntries(TRUST_STATUSES.map((s) => [s, 0])) as Record<TrustStatus, number>;
  const now = Date.now();
  for (const t of config.tenants) trust[trustStatusAt(t.mtls.trust, now)] += 1;
  return { tenants: config.tenants.length, hostnames: config.tenants.reduce((n, t) => n + t.hostnames.length, 0), trust };
}

/**
 * `bouncer config validate FILE`: loads the file exactly as `serve` would (same
 * checks, same environment overrides, CA and CRL files read) and reports every
 * problem at once. Exit status 0 when valid, 1 when not. Bad trust data of a
 * tenant (an expired or unparsable CA…) is a warning, as `serve` treats it:
 * only that tenant is affected; `--strict` makes any warning fail, for CI.
 */
export function configValidateCommand(): Command {
  return new Command('validate')
    .description('check a config file (and the CA and CRL files it names) without starting anything')
    .argument('<file>', 'YAML config file (see docs/config.md)')
    .option('--json', 'print the result as one JSON object')
    .option('--strict', 'fail (exit 1) when there are warnings, such as a tenant CA that is expired or does not parse')
    .addHelpText(
      'after',
      '\nThe environment overrides BOUNCER_LISTEN_AUTHZ, BOUNCER_LISTEN_HTTP and BOUNCER_LOG_LEVEL are applied and checked too.\n' +
        'Problems are printed as FILE:LINE:COLUMN: FIELD: MESSAGE, all of them at once.\n' +
        "A tenant's bad trust data (a CA file that is missing, does not parse, is expired, not yet valid or not a CA) is a warning,\n" +
        'located the same way: bouncer still serves, and only that tenant is affected. --strict makes warnings fail.\n\n' +
        'Example:\n  bouncer config validate --strict /etc/bouncer/bouncer.yaml\n\nExit status: 0 when the config is valid, 1 when it is not (or, with --strict, when there are warnings).',
    )
    .action(async (file: string, opts: { json?: boolean; strict?: boolean }) => {
      let report: ValidateReport;
      try {
        const config = await loadConfig(file, process.env);
        const failed = opts.strict === true && config.warnings.length > 0;
        report = { ok: true, file: config.source, ...summary(config), files: config.files, warnings: config.warnings, issues: [], failed_on_warnings: failed };
      } catch (err) {
        if (err instanceof ConfigError) {
          report = { ok: false, file: err.issues[0]?.file ?? file, code: err.code, issues: err.issues, warnings: [] };
        } else if (err instanceof BouncerError && err.code === 'ERR_CONFIG_READ') {
          report = { ok: false, file: resolve(file), code: err.code, issues: [{ file: resolve(file), field: '(file)', message: err.message }], warnings: [] };
        } else {
          throw err;
        }
      }
      if (opts.json === true) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else if (report.ok) {
        // Always plural: scripts match this line.
        const bad = report.trust.degraded + report.trust.unusable;
        const lines = [
          `ok: ${report.tenants} tenants, ${report.hostnames} hostnames`,
          ...(bad > 0 ? [`trust: ${report.trust.ok} ok, ${report.trust.degraded} degraded (some CA certificates unusable), ${report.trust.unusable} unusable (no usable CA; their devices are denied)`] : []),
          ...report.warnings.map((w) => `warning: ${w}`),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
        if (report.failed_on_warnings) {
          const n = report.warnings.length;
          process.stderr.write(`error: ${n} ${n === 1 ? 'warning' : 'warnings'}, and --strict makes warnings fail\n`);
        }
      } else if (report.code === 'ERR_CONFIG_READ') {
        process.stderr.write(`error: ${report.issues[0]?.message ?? 'cannot read the config file'}\n`);
      } else {
        const n = report.issues.length;
        process.stderr.write(`${[...report.issues.map(formatIssue), `${n} ${n === 1 ? 'problem' : 'problems'} in ${shown(report.file)}`].join('\n')}\n`);
      }
      if (!report.ok || report.failed_on_warnings) process.exitCode = 1;
    });
}
