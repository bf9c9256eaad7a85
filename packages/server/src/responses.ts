import type { ApiResponse, CorsOption, RejectReason } from "./types.js";

const JSON_TYPE = "application/json; charset=utf-8";

/** The HTTP status of each refusal reason. */
export const REJECT_STATUS: Record<RejectReason, number> = {
  invalid_json: 400,
  invalid_event: 400,
  invalid_request: 400,
  too_large: 413,
  too_many_events: 413,
  unauthorized: 401,
  misdirected: 421,
  unsupported_media_type: 415,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  unavailable: 503,
  timeout: 408,
  internal: 500,
};

/** A JSON response with a fresh header object (callers may add to it). */
export function json(status: number, body: unknown, headers?: Record<string, string>): ApiResponse {
  const h: Record<string, string> = { "content-type": JSON_TYPE };
  if (headers) Object.assign(h, headers);
  return { status, headers: h, body: JSON.stringify(body) };
}

/** The Event API answer: `{ ids, status }` plus `error` when it failed. */
export function sendResponse(
  status: number,
  ids: string[],
  error?: string,
  headers?: Record<string, string>,
): ApiResponse {
  return json(status, error === undefined ? { ids, status } : { ids, status, error }, headers);
}

/** Headers added to every `/e/*` answer (and the preflight) for the configured CORS policy. */
export function corsHeaders(cors: CorsOption): Record<string, string> | null {
  if (cors === false) return null;
  if (cors === true) return { "access-control-allow-origin": "*" };
  return { "access-control-allow-origin": cors.origin, vary: "Origin" };
}

/**
 * The headers of a CORS preflight answer for `POST /e/:eventKey` (methods, request headers the
 * SDKs send, cache time), without `Access-Control-Allow-Origin`: for a host that decides the
 * allowed origins itself.
 *
 * @example
 * ```ts
 * res.writeHead(204, { ...PREFLIGHT_HEADERS, "access-control-allow-origin": origin, vary: "Origin" });
 * ```
 */
export const PREFLIGHT_HEADERS: Readonly<Record<string, string>> = {
  "access-control-allow-methods": "POST, OPTIONS",
  "access-control-allow-headers":
    "content-type, x-inngest-env, x-evt-env, x-inngest-event-id-seed, x-inngest-sdk, x-request-id",
  "access-control-max-age": "86400",
};
