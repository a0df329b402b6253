import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { freePort, freePortRange } from '../helpers/ports.js';

// Ports handed to processes that bind them later must not be ones the OS can
// hand out meanwhile (ephemeral ports), nor ones this process handed out before.

const ephemeralStart = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

function bind(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

test('ports are below the ephemeral range, never repeated, and bindable', async () => {
  const seen = new Set<number>();
  const servers: Server[] = [];
  try {
    const range = await freePortRange(3);
    for (let i = 0; i < 3; i++) {
      seen.add(range + i);
      servers.push(await bind(range + i));
    }
    for (let i = 0; i < 40; i++) {
      const p = await freePort();
      expect(p).toBeGreaterThanOrEqual(10_000);
      expect(p).toBeLessThan(ephemeralStart);
      expect(seen.has(p)).toBe(false);
      seen.add(p);
      servers.push(await bind(p));
    }
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
});

test('a port already taken is skipped', async () => {
  const first = await freePort();
  const taken = await bind(first + 1);
  try {
    // The next port in sequence is in use: the one handed out is another.
    const second = await freePort();
    expect(second).not.toBe(first + 1);
    await (await bind(second)).close();
  } finally {
    taken.close();
  }
});
