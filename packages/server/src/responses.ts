import type { ApiBodyStream, ApiTextResponse, CorsOption, RejectReason } from "./types.js";

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
  too_many_reads: 429,
  timeout: 408,
  internal: 500,
};

/** A JSON response with a fresh header object (callers may add to it). */
export function json(
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): ApiTextResponse {
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
): ApiTextResponse {
  return json(status, error === undefined ? { ids, status } : { ids, status, error }, headers);
}

/** Size a chunk of a streamed body grows to before it is handed out (UTF-16 units). */
export const STREAM_CHUNK = 64 * 1024;

/**
 * `head`, then `items` as a JSON array body (comma-separated `JSON.stringify` of each), then
 * `tail`, as an {@link ApiBodyStream} of ~64 KiB chunks made one at a time when pulled. Each
 * item is let go once serialised. `onDone` runs once: at the end, on `return()`, or when an
 * item cannot be serialised.
 */
export function jsonArrayStream(
  head: string,
  items: unknown[],
  tail: string,
  onDone?: () => void,
): ApiBodyStream {
  let i = 0;
  let started = false;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    items = [];
    onDone?.();
  };
  const end: IteratorReturnResult<undefined> = { done: true, value: undefined };
  const iterator: AsyncIterator<string, undefined> = {
    async next() {
      if (finished) return end;
      let chunk = "";
      if (!started) {
        started = true;
        chunk = head;
      }
      try {
        while (i < items.length && chunk.length < STREAM_CHUNK) {
          if (i > 0) chunk += ",";
          chunk += JSON.stringify(items[i]);
          items[i] = undefined;
          i++;
        }
      } catch (error) {
        finish();
        throw error;
      }
      if (i >= items.length) {
        chunk += tail;
        finish();
      }
      return { done: false, value: chunk };
    },
    async return() {
      finish();
      return end;
    },
  };
  return { [Symbol.asyncIterator]: () => iterator };
}

/**
 * The whole body of an {@link ApiResponse} as text: the string itself, or every chunk of a
 * streamed body joined (for tests and hosts that cannot stream).
 *
 * @example
 * ```ts
 * const res = await api.handle({ method: "GET", url: "/v1/events", headers: {}, body: null });
 * const page = JSON.parse(await responseText(res));
 * ```
 */
export async function responseText(res: { body: string | ApiBodyStream }): Promise<string> {
  if (typeof res.body === "string") return res.body;
  let text = "";
  for await (const chunk of res.body) text += chunk;
  return text;
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
