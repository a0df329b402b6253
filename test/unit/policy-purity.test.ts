import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// core-purity.test.ts scans only the top level of src/core; the policy engine
// lives one level down and must be just as pure (it runs on every request).
const dir = fileURLToPath(new URL('../../src/core/policy/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));

const FORBIDDEN: Array<[RegExp, string]> = [
  [/from ['"](node:)?(fs|fs\/promises|net|http|https|http2|dgram|child_process|worker_threads|cluster|dns|tls|os)['"]/, 'I/O module import'],
  [/\bDate\.now\(/, 'ambient clock'],
  [/\bnew Date\(/, 'ambient clock'],
  [/\bMath\.random\(/, 'randomness'],
  [/\bprocess\./, 'process state'],
  [/\bsetTimeout\(|\bsetInterval\(|\bawait\b|\basync\b/, 'asynchrony'],
];

test('src/core/policy has files to check', () => {
  expect(files).toEqual(expect.arrayContaining(['cidr.ts', 'compile.ts', 'evaluate.ts', 'selectors.ts', 'cel.ts']));
});

test.each(files)('%s is pure', (file) => {
  const text = readFileSync(join(dir, file), 'utf8')
    .split('\n')
    .filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l))
    .join('\n');
  for (const [pattern, what] of FORBIDDEN) {
    expect({ file, what, found: pattern.test(text) }).toEqual({ file, what, found: false });
  }
});
