// Run by test/unit/grpc-transport.test.ts in a process of its own (node
// --expose-gc), on the built transport: Jest's module sandbox keeps objects
// alive that a server would not, so whether the socket read is freed can only
// be seen outside it. Prints "released" or "held <bytes>".
import http2 from 'node:http2';
import { GrpcTransport } from '../../dist/src/authz/grpc-transport.js';

const PATH = '/test.Echo/Say';
let held;
let pending;
let calls = 0;
const transport = new GrpcTransport({ maxMessageBytes: 1024, maxConcurrentStreams: 100 });
transport.addUnary({
  path: PATH,
  handle: (message, reply) => {
    if (calls++ > 0) return reply(null, message);
    // The first call waits for its answer, as a check waiting on a token's first verification does.
    held = new WeakRef(message.buffer);
    pending = reply;
  },
});
const port = await transport.listen('127.0.0.1', 0);
const session = http2.connect(`http://127.0.0.1:${port}`);
const frame = (body) => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
};
const call = (body) =>
  new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc' });
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('error', reject);
    req.on('close', () => resolve(Buffer.concat(chunks)));
    req.end(body);
  });
const first = call(frame(Buffer.alloc(300, 'a')));
while (pending === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
// Later reads on the session, so that only the waiting call could still hold the first.
for (let i = 0; i < 3; i++) await call(frame(Buffer.from(`next ${i}`)));
// No deref() until the end: a deref keeps its target alive until the current job ends.
for (let i = 0; i < 3; i++) {
  globalThis.gc();
  await new Promise((resolve) => setTimeout(resolve, 10));
}
const alive = held.deref();
pending(null, Buffer.from('answered'));
const answer = await first;
session.close();
await transport.close(true);
if (!answer.equals(frame(Buffer.from('answered')))) throw new Error('the waiting call was not answered');
process.stdout.write(alive === undefined ? 'released\n' : `held ${alive.byteLength}\n`);
