// A tiny authoritative DNS responder on UDP for tests (RFC 1035 wire format,
// node:dgram): A records from a table the test can change, an empty answer for
// other types of a known name, NXDOMAIN for unknown names. Pebble's `-dnsserver`
// and bouncer's pre-order DNS check both ask it.
import { createSocket, type Socket } from 'node:dgram';

export interface DnsResponder {
  readonly port: number;
  /** `127.0.0.1:<port>`, as Pebble's -dnsserver and dns.setServers take it. */
  readonly address: string;
  /** Sets the A records of a name (lower case); an empty list removes the name. */
  set(name: string, addresses: readonly string[]): void;
  close(): Promise<void>;
}

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let at = offset;
  for (;;) {
    const len = msg[at];
    if (len === undefined) throw new Error('truncated name');
    if (len === 0) return { name: labels.join('.').toLowerCase(), end: at + 1 };
    if (len >= 0xc0) throw new Error('compressed names are not expected in questions');
    labels.push(msg.subarray(at + 1, at + 1 + len).toString('latin1'));
    at += 1 + len;
  }
}

function answer(query: Buffer, records: ReadonlyMap<string, readonly string[]>): Buffer | undefined {
  if (query.length < 12 || query.readUInt16BE(4) !== 1) return undefined;
  const { name, end } = readName(query, 12);
  const qtype = query.readUInt16BE(end);
  const question = query.subarray(12, end + 4);
  const addresses = records.get(name);
  const answers = addresses !== undefined && qtype === 1 ? addresses : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  // QR, AA, RD copied; RCODE 3 (NXDOMAIN) for unknown names.
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | (addresses === undefined ? 3 : 0), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const rrs = answers.map((ip) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(1, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(1, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((o, i) => rr.writeUInt8(Number(o), 12 + i));
    return rr;
  });
  return Buffer.concat([header, question, ...rrs]);
}

export async function startDnsResponder(initial: Readonly<Record<string, readonly string[]>> = {}): Promise<DnsResponder> {
  const records = new Map<string, readonly string[]>(Object.entries(initial));
  const socket: Socket = createSocket('udp4');
  socket.on('message', (msg, peer) => {
    let reply: Buffer | undefined;
    try {
      reply = answer(msg, records);
    } catch {
      reply = undefined;
    }
    if (reply) socket.send(reply, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    set(name, addresses) {
      if (addresses.length === 0) records.delete(name);
      else records.set(name, addresses);
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
