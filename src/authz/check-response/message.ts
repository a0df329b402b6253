/**
 * The CheckResponse message as bouncer builds it (envoy.service.auth.v3), and
 * the pieces every part of it uses: google.rpc codes, header options.
 */

/** google.rpc.Code values Envoy understands in CheckResponse.status. */
export const RPC_OK = 0;
export const RPC_PERMISSION_DENIED = 7;
export const RPC_UNAUTHENTICATED = 16;

/** config.core.v3.HeaderValueOption.HeaderAppendAction */
export const APPEND_IF_EXISTS_OR_ADD = 0;
export const OVERWRITE_IF_EXISTS_OR_ADD = 2;

export interface HeaderValueOption {
  header: { key: string; value: string };
  append_action: number;
}

export interface CheckResponseMessage {
  status: { code: number; message?: string };
  /** `headers_to_remove` may be a list shared between responses: never modify it. */
  ok_response?: { headers: HeaderValueOption[]; headers_to_remove: readonly string[] };
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
}

/**
 * Header values must be visible ASCII; certificate names may carry anything, so
 * other characters are percent-encoded rather than passed through or dropped.
 */
export function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

export function set(key: string, value: string): HeaderValueOption {
  return { header: { key, value: headerSafe(value) }, append_action: OVERWRITE_IF_EXISTS_OR_ADD };
}
