/**
 * Writes to the config sections kept in PostgreSQL: apps (with their
 * policies), identity providers and service tokens. The body is one entry in
 * the config file's own shape (snake_case, as docs/config.md describes it);
 * the change is merged into the stored document and the whole config, file
 * plus database, is validated by the config loader before anything is stored,
 * so the API accepts exactly what the file would. Every replica reloads on the
 * change.
 */
import { ConfigError } from '../../core/errors.js';
import { OVERLAY_KINDS, type ConfigOverlay, type OverlaySection } from '../../config/overlay.js';
import { AdminError } from '../errors.js';
import type { AdminRoute } from '../route.js';

/** What the routes need: absent in the default (file only) mode, where they answer 409. */
export interface ConfigWriter {
  update(who: string, change: (sections: Partial<Record<OverlaySection, unknown[]>>) => Partial<Record<OverlaySection, unknown[]>>, validate: (overlay: ConfigOverlay) => Promise<void>): Promise<number>;
  /** Loads file + overlay; throws the loader's `ConfigError` when invalid. */
  validate(overlay: ConfigOverlay): Promise<void>;
}

const ID = { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9][a-z0-9_-]*$' } as const;
const RESULT = {
  type: 'object',
  additionalProperties: false,
  required: ['version'],
  properties: { version: { type: 'integer', description: 'Version of the stored document after the change.' }, created: { type: 'boolean' } },
} as const;

function rejected(err: unknown): never {
  if (err instanceof ConfigError) {
    const lines = err.issues.map((i) => `${i.field}: ${i.message}`);
    throw new AdminError('ERR_CONFIG_REJECTED', `the config would not load with this change: ${lines.join('; ')}`, { cause: err });
  }
  throw err;
}

export function configWriteRoutes(writer: ConfigWriter | undefined): AdminRoute[] {
  const need = (): ConfigWriter => {
    if (!writer) {
      throw new AdminError('ERR_CONFIG_READ_ONLY', 'apps, identity providers and service tokens come from the config file here; edit it (bouncer reloads it by itself), or set store.postgres to manage them through this API');
    }
    return writer;
  };
  return OVERLAY_KINDS.flatMap((k): AdminRoute[] => [
    {
      method: 'PUT',
      url: `/v1/${k.path}/:${k.key}`,
      operationId: `put_${k.audit}`,
      summary: `Create or replace one ${k.noun} in the database`,
      description: `The body is one entry of \`${k.section}\` exactly as the config file writes it (docs/config.md); its \`${k.key}\` must match the path. The whole config is validated with the change before it is stored.`,
      tag: 'config',
      access: 'config:write',
      audit: `${k.audit}.put`,
      schema: {
        params: { type: 'object', required: [k.key], properties: { [k.key]: ID } },
        body: { type: 'object', additionalProperties: true, description: `A \`${k.section}\` entry in the config file's shape.` },
        responses: { 200: { description: 'Stored; every replica reloads.', schema: RESULT } },
        errors: [404, 409, 503],
      },
      async handle(ctx) {
        const w = need();
        const id = ctx.params[k.key] as string;
        const entry = { ...(ctx.body as Record<string, unknown>) };
        if (entry[k.key] === undefined) entry[k.key] = id;
        if (entry[k.key] !== id) throw new AdminError('ERR_ADMIN_BAD_REQUEST', `body ${k.key} '${String(entry[k.key])}' does not match the path's '${id}'`, { field: `body.${k.key}` });
        ctx.note(id, { section: k.section });
        let created = true;
        const version = await w
          .update(
            ctx.caller?.id ?? 'unknown',
            (sections) => {
              const list = [...(sections[k.section] ?? [])];
              const at = list.findIndex((e) => (e as Record<string, unknown>)[k.key] === id);
              if (at >= 0) {
                list[at] = entry;
                created = false;
              } else list.push(entry);
              return { ...sections, [k.section]: list };
            },
            (overlay) => w.validate(overlay),
          )
          .catch(rejected);
        return { status: 200, body: { version, created } };
      },
    },
    {
      method: 'DELETE',
      url: `/v1/${k.path}/:${k.key}`,
      operationId: `delete_${k.audit}`,
      summary: `Delete one ${k.noun} from the database`,
      description: 'Refused when something still refers to it (an app naming the IdP, a policy naming the service token): the config would not load.',
      tag: 'config',
      access: 'config:write',
      audit: `${k.audit}.delete`,
      schema: {
        params: { type: 'object', required: [k.key], properties: { [k.key]: ID } },
        responses: { 200: { description: 'Deleted; every replica reloads.', schema: RESULT } },
        errors: [404, 409, 503],
      },
      async handle(ctx) {
        const w = need();
        const id = ctx.params[k.key] as string;
        ctx.note(id, { section: k.section });
        const version = await w
          .update(
            ctx.caller?.id ?? 'unknown',
            (sections) => {
              const list = sections[k.section] ?? [];
              const kept = list.filter((e) => (e as Record<string, unknown>)[k.key] !== id);
              if (kept.length === list.length) throw new AdminError('ERR_CONFIG_NOT_FOUND', `no ${k.noun} '${id}' in the database`);
              return { ...sections, [k.section]: kept };
            },
            (overlay) => w.validate(overlay),
          )
          .catch(rejected);
        return { status: 200, body: { version } };
      },
    },
  ]);
}
