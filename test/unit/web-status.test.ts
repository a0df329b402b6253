import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { WEB_ERROR_STATUS } from '../../src/web/http-status.js';

// The web service's statuses have one home: the table in src/web/http-status.ts.
const WEB = new URL('../../src/web/', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : [];
  });
}

test('no file under src/web writes an error status of its own', () => {
  const literal = /\.code\(\s*[45]\d\d\s*\)|writeHead\(\s*[45]\d\d\b|new AuthHttpError\(\s*[45]\d\d\b|refuse\w*\([^)]*,\s*[45]\d\d\s*,/;
  const offenders = sources(WEB)
    .filter((file) => !file.endsWith('http-status.ts'))
    .flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .map((line, i) => [file, i + 1, line] as const)
        .filter(([, , line]) => literal.test(line))
        .map(([f, n, line]) => `${f.slice(WEB.length)}:${n}: ${line.trim()}`),
    );
  expect(offenders).toEqual([]);
});

test('the statuses docs/identity.md gives for failed sign-ins are the table\'s', () => {
  const doc = readFileSync(new URL('../../docs/identity.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## When a sign-in fails'), doc.indexOf('## Policies'));
  const rows = [...section.matchAll(/^\| `(\w+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])] as const);
  expect(rows.length).toBeGreaterThan(10);
  for (const [code, status] of rows) expect([code, WEB_ERROR_STATUS[code as keyof typeof WEB_ERROR_STATUS]]).toEqual([code, status]);
});
