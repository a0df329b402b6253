/**
 * Runs abuse rounds against an ext_authz port from a process of its own, so
 * the hostile client's own work never delays the prober that judges bouncer:
 *
 *   node dist/test/helpers/abuse-runner.js <port> <seconds> [holdMs]
 *
 * Each round opens every kind of abuse in authz-abuse.ts at once, holds it for
 * `holdMs` (default 7000, past the 5 s delivery deadline), then drops it;
 * rounds repeat until `seconds` have passed. Prints one JSON line per round.
 */
import type net from 'node:net';
import { brokenConnections, declareHuge, floodRelay, parkStreams, protocolErrors } from './authz-abuse.js';
import { HostileH2 } from './hostile-h2.js';

const port = Number(process.argv[2]);
const seconds = Number(process.argv[3] ?? 10);
const holdMs = Number(process.argv[4] ?? 7000);
const end = Date.now() + seconds * 1000;
let round = 0;
do {
  const started = Date.now();
  const hostile: HostileH2[] = [];
  const raw: net.Socket[] = [];
  const rounds = await Promise.all([
    declareHuge(port, 200),
    ...Array.from({ length: 8 }, () => parkStreams(port, 100, 64 * 1024)),
    floodRelay(port, 1000),
    protocolErrors(port, 300),
    brokenConnections(port, 300),
  ]);
  for (const r of rounds) {
    for (const c of Array.isArray(r) ? r : [r]) {
      if (c instanceof HostileH2) hostile.push(c);
      else raw.push(c);
    }
  }
  await new Promise((resolve) => setTimeout(resolve, holdMs));
  // On a loaded machine this niced process reads the server's answers late: count
  // them once the count has stopped growing (or after 20 s), not at a fixed instant.
  // A stream counts as answered when the server reset or ended it, or cut its
  // connection (GOAWAY or close: the per-connection stream-error limit does that).
  const answered = (): number => hostile.reduce((n, c) => n + (c.goaways.length > 0 || !c.isOpen ? c.opened.size : c.resets.size + c.ended.size), 0);
  let refused = answered();
  for (const settleBy = Date.now() + 20_000; Date.now() < settleBy; ) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const now = answered();
    if (now === refused) break;
    refused = now;
  }
  const stillOpen = hostile.filter((c) => c.isOpen).length + raw.filter((s) => !s.destroyed && s.readyState === 'open').length;
  for (const c of hostile) c.destroy();
  for (const s of raw) s.destroy();
  process.stdout.write(`${JSON.stringify({ round: ++round, ms: Date.now() - started, connections: hostile.length + raw.length, streamsAnswered: refused, connectionsStillOpen: stillOpen })}\n`);
} while (Date.now() < end);
