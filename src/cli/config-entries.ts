/**
 * `bouncer app|idp|service-token put|delete`: the config entries kept in the
 * database (`store.postgres`), through the admin API. An entry is written in a
 * YAML or JSON file exactly as under `apps:`, `idps:` or `service_tokens:` in
 * the config file; the server validates it with the whole config.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { parse } from 'yaml';
import { OVERLAY_KINDS } from '../config/overlay.js';
import { AdminClientError, adminAction, createAdminClient, printJson, withAdminOptions, type AdminClientOptions } from './admin-client.js';

function readEntry(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AdminClientError('ERR_CLI_USAGE', `cannot read ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    // YAML is a superset of JSON: one parser for both.
    value = parse(text, { uniqueKeys: true });
  } catch (err) {
    throw new AdminClientError('ERR_CLI_USAGE', `${file} is neither YAML nor JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AdminClientError('ERR_CLI_USAGE', `${file} must hold one mapping (one entry), not ${Array.isArray(value) ? 'a list' : typeof value}`);
  return value as Record<string, unknown>;
}

function kindCommand(k: (typeof OVERLAY_KINDS)[number]): Command {
  const put = withAdminOptions(
    new Command('put')
      .description(`create or replace one ${k.noun}${k.section === 'apps' ? ' (with its policies)' : ''} in the database, from a YAML or JSON file written as one \`${k.section}\` entry of the config`)
      .argument(`<${k.key}>`)
      .requiredOption('-f, --file <file>', 'the entry (YAML or JSON)'),
  ).action(
    adminAction(async (id: string, opts: AdminClientOptions & { file: string }) => {
      const entry = readEntry(opts.file);
      const out = await createAdminClient(opts).request<{ version: number; created: boolean }>('PUT', `/v1/${k.path}/${encodeURIComponent(id)}`, entry);
      if (opts.json) return printJson(out);
      process.stdout.write(`${out.created ? 'created' : 'replaced'} ${k.command} ${id} (document version ${out.version}); every replica reloads\n`);
    }),
  );
  const del = withAdminOptions(
    new Command('delete').description(`delete one ${k.noun} from the database`).argument(`<${k.key}>`).option('--yes', 'confirm'),
  ).action(
    adminAction(async (id: string, opts: AdminClientOptions & { yes?: boolean }) => {
      if (!opts.yes) throw new AdminClientError('ERR_CLI_USAGE', `deleting ${k.command} ${id} takes effect on every replica at once; add --yes to confirm`);
      const out = await createAdminClient(opts).request<{ version: number }>('DELETE', `/v1/${k.path}/${encodeURIComponent(id)}`);
      if (opts.json) return printJson(out);
      process.stdout.write(`deleted ${k.command} ${id} (document version ${out.version})\n`);
    }),
  );
  return new Command(k.command).description(`${k.noun}s kept in the database (store.postgres)`).addCommand(put).addCommand(del);
}

export function configEntryCommands(): Command[] {
  return OVERLAY_KINDS.map(kindCommand);
}
