import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The decision core must stay pure: no I/O modules, no ambient clock or process
// state. Time and trust come in as arguments, which keeps every case replayable.
const coreDir = fileURLToPath(new URL('../../src/core/', import.meta.url));
const files = readdirSync(coreDir).filter((f) => f.endsWith('.ts'));

const FORBIDDEN: Array<[RegExp, string]> = [
  [/from ['"](node:)?(fs|fs\/promises|net|http|https|http2|dgram|child_process|worker_threads|cluster|dns|tls|os)['"]/, 'I/O module import'],
  [/from ['"](pino|prom-client|@grpc\/[^'"]+|yaml|ioredis|pg)['"]/, 'adapter library import'],
  [/\bDate\.now\(/, 'ambient clock'],
  [/\bnew Date\(\)/, 'ambient clock'],
  [/\bprocess\./, 'process state'],
  [/\bsetTimeout\(|\bsetInterval\(/, 'timers'],
];

test('src/core has files to check', () => {
  expect(files.length).toBeGreaterThan(5);
});

test.each(files)('%s is pure', (file) => {
  const text = readFileSync(join(coreDir, file), 'utf8')
    .split('\n')
    .filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l))
    .join('\n');
  for (const [pattern, what] of FORBIDDEN) {
    expect({ file, what, found: pattern.test(text) }).toEqual({ file, what, found: false });
  }
});
