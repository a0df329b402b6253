/**
 * Config sections kept in the database instead of the file (`store.postgres`):
 * apps (with their policies), identity providers and service tokens, managed
 * through the admin API. They are merged into the file's document before
 * validation, so they pass exactly the checks a file would, and a section
 * lives in one place only: the file or the database, never both.
 */
import { isMap, type Document } from 'yaml';
import type { ConfigIssue } from '../core/errors.js';
import type { NodeReader } from './node-reader.js';

/** The sections the database may hold, by their key in the file. */
export const OVERLAY_SECTIONS = ['apps', 'idps', 'service_tokens'] as const;
export type OverlaySection = (typeof OVERLAY_SECTIONS)[number];

/**
 * Each section's entries as the admin API (`/v1/{path}/{id}`), the audit trail
 * (`{audit}.put`) and the CLI (`bouncer {command} put`) name them; `key` is the
 * field that identifies an entry in the file.
 */
export const OVERLAY_KINDS: ReadonlyArray<{
  readonly section: OverlaySection;
  readonly path: string;
  readonly command: string;
  readonly audit: string;
  readonly key: 'name' | 'id';
  readonly noun: string;
}> = [
  { section: 'apps', path: 'apps', command: 'app', audit: 'app', key: 'name', noun: 'app' },
  { section: 'idps', path: 'idps', command: 'idp', audit: 'idp', key: 'id', noun: 'identity provider' },
  { section: 'service_tokens', path: 'service-tokens', command: 'service-token', audit: 'service_token', key: 'id', noun: 'service token' },
];

/** What the database holds, in the file's own (snake_case) shape. */
export interface ConfigOverlay {
  /** Where it came from, for error messages (`postgres:config_documents/identity`). */
  readonly source: string;
  readonly sections: Readonly<Partial<Record<OverlaySection, readonly unknown[]>>>;
}

/** Puts the overlay's sections into the parsed file; a section the file already has is an error. */
export function applyOverlay(doc: Document, overlay: ConfigOverlay, reader: NodeReader): void {
  const root = doc.contents;
  // Not a mapping: the shape check reports that on its own; nothing to merge into.
  if (!isMap(root)) return;
  for (const key of OVERLAY_SECTIONS) {
    const value = overlay.sections[key];
    if (value === undefined || value.length === 0) continue;
    if (doc.has(key)) {
      reader.issue(undefined, key, `${key} is defined both in this file and in the database (${overlay.source}); keep it in one place: remove it from the file to manage it through the admin API`);
      continue;
    }
    // Key and value as nodes, like parsed ones: the shape checks read scalars, not plain strings.
    root.items.push(doc.createPair(key, value));
  }
}

/** Issues about overlay sections point at the database, not at a line of the file. */
export function relocateIssues(issues: readonly ConfigIssue[], overlay: ConfigOverlay | undefined): ConfigIssue[] {
  if (!overlay) return [...issues];
  const inOverlay = (field: string): boolean =>
    OVERLAY_SECTIONS.some((k) => overlay.sections[k] !== undefined && (field === k || field.startsWith(`${k}[`) || field.startsWith(`${k}.`)));
  return issues.map((i) => (inOverlay(i.field) && i.line === undefined ? { file: overlay.source, field: i.field, message: i.message } : i));
}
