/**
 * An OTLP/HTTP trace receiver for tests: accepts `POST /v1/traces` with an
 * `application/x-protobuf` ExportTraceServiceRequest, decodes it with the
 * OTLP schema (test/fixtures/otlp/trace.proto, through protobufjs) and keeps
 * every span, flattened with its resource's attributes.
 */
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export type AttributeValue = string | number | boolean | AttributeValue[] | undefined;

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  /** SPAN_KIND_SERVER, SPAN_KIND_CLIENT, … */
  readonly kind: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly resource: Readonly<Record<string, AttributeValue>>;
  /** STATUS_CODE_UNSET, STATUS_CODE_OK or STATUS_CODE_ERROR. */
  readonly status: string;
  readonly startNs: bigint;
  readonly endNs: bigint;
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>`: what OTEL_EXPORTER_OTLP_ENDPOINT takes. */
  readonly endpoint: string;
  readonly spans: ReceivedSpan[];
  /** Requests that were not a decodable trace export, with why. */
  readonly rejected: string[];
  close(): Promise<void>;
}

const PROTO = fileURLToPath(new URL('../fixtures/otlp/trace.proto', import.meta.url));

interface AnyValueJson {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number;
  arrayValue?: { values?: AnyValueJson[] };
}

function valueOf(v: AnyValueJson | undefined): AttributeValue {
  if (v === undefined) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(valueOf);
  return undefined;
}

const attributesOf = (kvs: Array<{ key: string; value?: AnyValueJson }> | undefined): Record<string, AttributeValue> => Object.fromEntries((kvs ?? []).map((kv) => [kv.key, valueOf(kv.value)]));

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const root = await protobuf.load(PROTO);
  const Request = root.lookupType('otlp.ExportTraceServiceRequest');
  const spans: ReceivedSpan[] = [];
  const rejected: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const type = req.headers['content-type'] ?? '';
      if (req.method !== 'POST' || req.url !== '/v1/traces' || type !== 'application/x-protobuf') {
        rejected.push(`${req.method ?? '?'} ${req.url ?? '?'} ${type}`);
        res.writeHead(404).end();
        return;
      }
      try {
        const decoded = Request.toObject(Request.decode(Buffer.concat(chunks)), { longs: String, enums: String, bytes: String, defaults: false }) as {
          resourceSpans?: Array<{
            resource?: { attributes?: Array<{ key: string; value?: AnyValueJson }> };
            scopeSpans?: Array<{
              spans?: Array<{
                traceId?: string;
                spanId?: string;
                parentSpanId?: string;
                name?: string;
                kind?: string;
                startTimeUnixNano?: string;
                endTimeUnixNano?: string;
                attributes?: Array<{ key: string; value?: AnyValueJson }>;
                status?: { code?: string };
              }>;
            }>;
          }>;
        };
        const hex = (b64: string | undefined): string => Buffer.from(b64 ?? '', 'base64').toString('hex');
        for (const rs of decoded.resourceSpans ?? []) {
          const resource = attributesOf(rs.resource?.attributes);
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({
                traceId: hex(s.traceId),
                spanId: hex(s.spanId),
                parentSpanId: hex(s.parentSpanId),
                name: s.name ?? '',
                kind: s.kind ?? 'SPAN_KIND_UNSPECIFIED',
                attributes: attributesOf(s.attributes),
                resource,
                status: s.status?.code ?? 'STATUS_CODE_UNSET',
                startNs: BigInt(s.startTimeUnixNano ?? '0'),
                endNs: BigInt(s.endTimeUnixNano ?? '0'),
              });
            }
          }
        }
        // An empty body is an empty ExportTraceServiceResponse: full success.
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      } catch (err) {
        rejected.push(`undecodable: ${err instanceof Error ? err.message : String(err)}`);
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    rejected,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
