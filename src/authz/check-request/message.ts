// The subset of the CheckRequest message bouncer reads; decode.ts fills it from
// the wire, ../check-request.ts maps it to the decision's input.

/**
 * The subset of envoy.service.auth.v3.CheckRequest bouncer reads, as
 * @grpc/proto-loader decodes it (keepCase, oneofs). Everything is optional
 * because Envoy omits what it does not know.
 */
export interface CheckRequestMessage {
  attributes?: {
    source?: {
      address?: { socket_address?: { address?: string } };
      /** URL-encoded PEM of the peer certificate (include_peer_certificate). */
      certificate?: string;
    };
    request?: {
      http?: {
        id?: string;
        method?: string;
        path?: string;
        host?: string;
        /**
         * From `headers` (a map, repeated names merged by Envoy), or from
         * `header_map` (Envoy's `encode_raw_headers: true`), merged here the
         * same way: see `readHeaderValue` in decode.ts.
         */
        headers?: Record<string, string>;
      };
    };
    /** Present with include_tls_session. */
    tls_session?: { sni?: string };
  };
}
