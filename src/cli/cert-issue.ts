import { X509Certificate } from 'node:crypto';
import { Command, Option } from 'commander';
import { BouncerError } from '../core/errors.js';
import { checkOutputPaths, readInputFile, writePkiFiles, type PkiOutputFile } from '../pki/files.js';
import { DEFAULT_VALID_DAYS, KEY_ALGORITHMS, issueClientCert, type KeyAlgorithm } from '../pki/generate.js';
import { toPkcs12 } from '../pki/pkcs12.js';
import { displayPath, parseDays } from './ca-create.js';

interface CertIssueFlags {
  caCert: string;
  caKey: string;
  cn: string;
  dns: string[];
  uri: string[];
  email: string[];
  days: number;
  keyType: KeyAlgorithm;
  out?: string;
  outCert?: string;
  outKey?: string;
  p12?: string;
  p12PasswordFile?: string;
  p12PasswordEnv?: string;
  force?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Names that are safe to use as a default output prefix without surprising anyone. */
const SAFE_PREFIX = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Where the certificate and key go: `--out PREFIX`, or both `--out-cert` and `--out-key`, or the CN. */
function outputPaths(f: CertIssueFlags): { cert: string; key: string } {
  if (f.out !== undefined && (f.outCert !== undefined || f.outKey !== undefined)) {
    throw new BouncerError('ERR_CLI_USAGE', 'use either --out PREFIX or --out-cert FILE --out-key FILE, not both');
  }
  if ((f.outCert === undefined) !== (f.outKey === undefined)) throw new BouncerError('ERR_CLI_USAGE', '--out-cert and --out-key go together');
  if (f.outCert !== undefined && f.outKey !== undefined) return { cert: f.outCert, key: f.outKey };
  const prefix = f.out ?? f.cn;
  if (f.out === undefined && !SAFE_PREFIX.test(prefix)) {
    throw new BouncerError('ERR_CLI_USAGE', `--cn "${f.cn}" is not a safe file name; name the outputs with --out PREFIX`);
  }
  return { cert: `${prefix}.pem`, key: `${prefix}.key` };
}

/**
 * The PKCS#12 password, from a file or an environment variable only: a password on the command
 * line is visible to every user through `ps` and lands in shell history.
 */
function p12Password(f: CertIssueFlags): string | undefined {
  const sources = [f.p12PasswordFile, f.p12PasswordEnv].filter((s) => s !== undefined).length;
  if (f.p12 === undefined) {
    if (sources > 0) throw new BouncerError('ERR_CLI_USAGE', '--p12-password-file and --p12-password-env need --p12 FILE');
    return undefined;
  }
  if (sources === 0) throw new BouncerError('ERR_CLI_USAGE', '--p12 needs a password: --p12-password-file FILE or --p12-password-env VAR (never on the command line)');
  if (sources > 1) throw new BouncerError('ERR_CLI_USAGE', 'give one of --p12-password-file and --p12-password-env, not both');
  if (f.p12PasswordFile !== undefined) {
    // Like openssl's `file:` source, the password is the first line, so a trailing newline is not part of it.
    const password = readInputFile(f.p12PasswordFile, '--p12-password-file').split(/\r?\n/)[0] ?? '';
    if (password === '') throw new BouncerError('ERR_CLI_USAGE', `password file ${f.p12PasswordFile} is empty`);
    return password;
  }
  const password = process.env[f.p12PasswordEnv ?? ''];
  if (!password) throw new BouncerError('ERR_CLI_USAGE', `environment variable ${f.p12PasswordEnv ?? ''} is not set or empty`);
  return password;
}

/**
 * `bouncer cert issue`: a device certificate signed by a tenant CA, as PEM and optionally PKCS#12.
 *
 * @example
 * new Command('cert').addCommand(certIssueCommand());
 */
export function certIssueCommand(): Command {
  return new Command('issue')
    .description('issue a device (client) certificate with the clientAuth EKU, signed by a tenant CA; writes PEM cert + key and optionally a PKCS#12 bundle')
    .requiredOption('--ca-cert <file>', 'issuing CA certificate (PEM; a chain file is fine, the first certificate signs)')
    .requiredOption('--ca-key <file>', "issuing CA's private key (PEM, unencrypted)")
    .requiredOption('--cn <name>', 'device common name, e.g. acme-laptop-1')
    .option('--dns <name>', 'DNS name SAN (repeatable)', collect, [])
    .option('--uri <uri>', 'URI SAN, e.g. spiffe://acme.test/device/laptop-1 (repeatable)', collect, [])
    .option('--email <address>', 'email SAN (repeatable)', collect, [])
    .option('--days <n>', 'validity in days (must end before the CA does)', parseDays, DEFAULT_VALID_DAYS.leaf)
    .addOption(new Option('--key-type <type>', 'device key type').choices(KEY_ALGORITHMS).default('ec-p256'))
    .option('--out <prefix>', 'write <prefix>.pem and <prefix>.key (default: the CN)')
    .option('--out-cert <file>', 'certificate path (with --out-key)')
    .option('--out-key <file>', 'private key path (with --out-cert)')
    .option('--p12 <file>', 'also write a password-protected PKCS#12 bundle (key, certificate, CA chain)')
    .option('--p12-password-file <file>', 'read the PKCS#12 password from the first line of this file')
    .option('--p12-password-env <var>', 'read the PKCS#12 password from this environment variable')
    .option('--force', 'replace existing files')
    .addHelpText(
      'after',
      [
        '',
        'Example:',
        '  $ bouncer cert issue --ca-cert acme-ca.pem --ca-key acme-ca.key --cn acme-laptop-1 \\',
        '      --uri spiffe://acme.test/device/laptop-1 --out laptop-1',
        '  $ P12_PASSWORD=... bouncer cert issue --ca-cert acme-ca.pem --ca-key acme-ca.key --cn acme-phone-1 \\',
        '      --p12 phone-1.p12 --p12-password-env P12_PASSWORD',
      ].join('\n'),
    )
    .action(async (flags: CertIssueFlags) => {
      // Every flag problem is reported before any file is read or key generated.
      const paths = outputPaths(flags);
      const password = p12Password(flags);
      checkOutputPaths([paths.cert, paths.key, ...(flags.p12 !== undefined ? [flags.p12] : [])], flags.force === true);
      const caCertPem = readInputFile(flags.caCert, '--ca-cert');
      const caKeyPem = readInputFile(flags.caKey, '--ca-key');
      const device = await issueClientCert({
        issuer: { certPem: caCertPem, keyPem: caKeyPem },
        commonName: flags.cn,
        dns: flags.dns,
        uris: flags.uri,
        emails: flags.email,
        keyAlgorithm: flags.keyType,
        validDays: flags.days,
      });
      const files: PkiOutputFile[] = [
        { path: paths.cert, data: device.certPem, mode: 0o644, what: 'certificate' },
        { path: paths.key, data: device.keyPem, mode: 0o600, what: 'private key' },
      ];
      if (flags.p12 !== undefined && password !== undefined) {
        const p12 = toPkcs12({ certPem: device.certPem, keyPem: device.keyPem, chainPem: caCertPem, password, friendlyName: flags.cn });
        files.push({ path: flags.p12, data: p12, mode: 0o600, what: 'PKCS#12 bundle' });
      }
      writePkiFiles(files, flags.force === true);
      const cert = new X509Certificate(device.certPem);
      const lines = files.map((f) => `wrote ${displayPath(f.path)} (${f.what}, ${f.mode === 0o600 ? '0600' : '0644'})`);
      lines.push(
        `subject: ${cert.subject.replace(/\n/g, ', ')}`,
        `issuer: ${cert.issuer.replace(/\n/g, ', ')}`,
        `serial: ${cert.serialNumber.toLowerCase()}`,
        `valid until: ${new Date(cert.validTo).toISOString()}`,
        `SHA-256 fingerprint: ${cert.fingerprint256}`,
        '',
      );
      process.stdout.write(lines.join('\n'));
    });
}
