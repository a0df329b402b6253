import { X509Certificate } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import { Command, Option } from 'commander';
import { BouncerError } from '../core/errors.js';
import { checkOutputPaths, writePkiFiles } from '../pki/files.js';
import { DEFAULT_VALID_DAYS, KEY_ALGORITHMS, createRootCa, type KeyAlgorithm } from '../pki/generate.js';

interface CaCreateFlags {
  name: string;
  outDir: string;
  days: number;
  keyType: KeyAlgorithm;
  force?: boolean;
}

/** Tenant names become file names, so they stay within a portable, separator-free set. */
const TENANT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Parses a `--days` value: a whole number of days, at least one.
 *
 * @example
 * new Command('x').option('--days <n>', 'validity in days', parseDays, 365);
 */
export function parseDays(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new BouncerError('ERR_CLI_USAGE', `--days must be a whole number of days greater than 0, got "${value}"`);
  return n;
}

/**
 * How a path should appear in hints: relative paths keep a leading `./` so YAML readers see a path.
 *
 * @example
 * displayPath('acme-ca.pem'); // './acme-ca.pem'
 */
export function displayPath(path: string): string {
  return isAbsolute(path) || path.startsWith('.') ? path : `./${path}`;
}

/**
 * `bouncer ca create`: a tenant's device root CA, as a certificate and a private key file.
 *
 * @example
 * new Command('ca').addCommand(caCreateCommand());
 */
export function caCreateCommand(): Command {
  return new Command('create')
    .description("create a tenant's device root CA: <name>-ca.pem (trust anchor for bouncer) and <name>-ca.key (keep offline)")
    .requiredOption('--name <tenant>', 'tenant name; used in the CA subject and the file names')
    .option('--out-dir <dir>', 'directory to write into (created if missing)', '.')
    .option('--days <n>', 'validity in days', parseDays, DEFAULT_VALID_DAYS.root)
    .addOption(new Option('--key-type <type>', 'CA key type').choices(KEY_ALGORITHMS).default('ec-p256'))
    .option('--force', 'replace existing files')
    .addHelpText(
      'after',
      ['', 'Example:', '  $ bouncer ca create --name acme --out-dir ./pki', '  wrote ./pki/acme-ca.pem and ./pki/acme-ca.key; then in bouncer.yaml:', '    mtls: { mode: require, ca: ./pki/acme-ca.pem }'].join('\n'),
    )
    .action(async (flags: CaCreateFlags) => {
      if (!TENANT_NAME.test(flags.name)) {
        throw new BouncerError('ERR_CLI_USAGE', `--name must be letters, digits, ".", "_" or "-" (max 63, starting with a letter or digit), got "${flags.name}"`);
      }
      const certPath = join(flags.outDir, `${flags.name}-ca.pem`);
      const keyPath = join(flags.outDir, `${flags.name}-ca.key`);
      checkOutputPaths([certPath, keyPath], flags.force === true);
      const ca = await createRootCa({ commonName: `${flags.name} device root CA`, organization: flags.name, keyAlgorithm: flags.keyType, validDays: flags.days });
      writePkiFiles(
        [
          { path: certPath, data: ca.certPem, mode: 0o644, what: 'CA certificate' },
          { path: keyPath, data: ca.keyPem, mode: 0o600, what: 'CA private key' },
        ],
        flags.force === true,
      );
      const cert = new X509Certificate(ca.certPem);
      process.stdout.write(
        [
          `wrote ${displayPath(certPath)} (CA certificate, 0644)`,
          `wrote ${displayPath(keyPath)} (CA private key, 0600; keep it offline: it can mint devices for ${flags.name})`,
          `subject: ${cert.subject.replace(/\n/g, ', ')}`,
          `valid until: ${new Date(cert.validTo).toISOString()}`,
          `SHA-256 fingerprint: ${cert.fingerprint256}`,
          '',
          `trust it in bouncer.yaml, under tenant ${flags.name}:`,
          `  mtls: { mode: require, ca: ${displayPath(certPath)} }`,
          'issue a device certificate:',
          `  bouncer cert issue --ca-cert ${displayPath(certPath)} --ca-key ${displayPath(keyPath)} --cn ${flags.name}-device-1`,
          '',
        ].join('\n'),
      );
    });
}
