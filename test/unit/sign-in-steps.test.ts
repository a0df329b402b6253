import { readFileSync } from 'node:fs';
import { SIGN_IN_STEPS, stepsFor } from '../../src/web/auth/endpoints.js';

// docs/identity.md shows which sign-in step runs for which endpoint; the code's table is the truth.
const ENDPOINT_COLUMNS = ['login', 'loginAtIdp', 'callback', 'me', 'logout', 'samlMetadata'] as const;

function documentedRows(): Array<[string, string[]]> {
  const doc = readFileSync(new URL('../../docs/identity.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## The steps, per endpoint'), doc.indexOf('## What the upstream receives'));
  return section
    .split('\n')
    .filter((line) => /^\| `\w+` \|/.test(line))
    .map((line) => {
      const cells = line.split('|').slice(1, -1).map((c) => c.trim());
      const name = cells[0]!.replace(/`/g, '');
      return [name, ENDPOINT_COLUMNS.filter((_, i) => cells[i + 1] === '✓')];
    });
}

test('the documented step table is the code\'s, row for row', () => {
  const code = SIGN_IN_STEPS.map(([step, ...endpoints]) => [step.name, [...endpoints].sort()]);
  const doc = documentedRows().map(([name, endpoints]) => [name, endpoints.sort()]);
  expect(doc).toEqual(code);
});

test('every endpoint ends in a step that can answer', () => {
  const answering = new Map<string, readonly string[]>([
    ['login', ['beginLogin']],
    ['loginAtIdp', ['beginLogin']],
    ['callback', ['finishLogin']],
    ['me', ['showSession']],
    ['logout', ['sendSignedOut']],
    ['samlMetadata', ['samlMetadata']],
  ]);
  for (const endpoint of ENDPOINT_COLUMNS) {
    const steps = stepsFor(endpoint).map((s) => s.name);
    expect(answering.get(endpoint)).toContain(steps[steps.length - 1]);
  }
});

test('no step hands off before the policy check', () => {
  for (const endpoint of ENDPOINT_COLUMNS) {
    const steps = stepsFor(endpoint).map((s) => s.name);
    const finish = steps.indexOf('finishLogin');
    if (finish >= 0) expect(steps.slice(0, finish)).toContain('checkPolicy');
  }
});
