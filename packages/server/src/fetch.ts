import { normalizeBasePath, stripBasePath } from "./routes.js";
import type { ApiBodyStream, ApiResponse, EventApi } from "./types.js";
import { clientRequestId } from "./validate.js";

/** Options of {@link createFetchHandler}. */
export interface FetchHandlerOptions {
  /**
   * Mount prefix stripped from request paths, e.g. `/api/evt` for a Next.js route at
   * `app/api/evt/[...path]/route.ts` or Hono's `app.all("/api/evt/*", ...)`.
   * @default ""
   */
  basePath?: string;
  /**
   * How long a streamed answer (a `GET /v1/events` page) waits for the runtime to pull the
   * next chunk; then the body stream errors and the page is let go.
   * @default 10_000
   */
  drainTimeoutMs?: number;
}

/**
 * Adapt an {@link EventApi} to the web-standard `fetch(Request) => Response` signature (Hono,
 * Next.js route handlers, Bun, Deno, workers). Reads at most `maxRequestBytes + 1` body bytes.
 * This entry imports nothing from Node.
 *
 * @example
 * ```ts
 * import { createFetchHandler } from "@evt/server/fetch";
 *
 * const handler = createFetchHandler(api);
 * const res = await handler(new Request("http://localhost/health"));
 * console.log(await res.json()); // { status: 200, message: "OK" }
 * ```
 */
export function createFetchHandler(
  api: EventApi,
  options: FetchHandlerOptions = {},
): (request: Request) => Promise<Response> {
  const basePath = normalizeBasePath(options.basePath);
  const limit = api.maxRequestBytes;
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  const toResponse = (out: ApiResponse, method: string, status = out.status) =>
    responseOf(out, method, status, drainTimeoutMs);
  return async (request) => {
    const u = new URL(request.url);
    const target = u.pathname + u.search;
    const url = basePath === "" ? target : stripBasePath(target, basePath);
    const method = request.method;
    if (url === null) {
      return toResponse(
        api.reject("not_found", `Not found (this API is mounted under ${basePath})`, method, "/"),
        method,
      );
    }
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    let body: Uint8Array | null = null;
    if (method === "POST") {
      const requestId = clientRequestId(headers["x-request-id"]);
      const early = api.screen(
        requestId === undefined ? { method, url, headers } : { method, url, headers, requestId },
      );
      // Decided by the head (unknown key, too large, ...): the body is never read.
      if (early !== null) return toResponse(early, method);
    }
    if (method === "POST" && request.body !== null) {
      const declared = Number(headers["content-length"]);
      if (!(declared > limit)) {
        try {
          body = await readLimited(request.body, limit);
        } catch {
          return toResponse(
            api.reject("invalid_request", "Request body could not be read", method, url),
            method,
          );
        }
      }
    }
    const out = await api.handle({
      method,
      url,
      headers,
      body,
      requestId: clientRequestId(headers["x-request-id"]),
    });
    return toResponse(out, method, out.status);
  };
}

function responseOf(
  out: ApiResponse,
  method: string,
  status: number,
  drainTimeoutMs: number,
): Response {
  const empty = status === 204 || status === 304 || method === "HEAD";
  // Connection management belongs to the host runtime, not to a fetch Response.
  const { connection: _connection, ...headers } = out.headers;
  if (typeof out.body !== "string") {
    if (empty) {
      void out.body[Symbol.asyncIterator]().return?.();
      return new Response(null, { status, headers });
    }
    return new Response(readableOf(out.body, drainTimeoutMs), { status, headers });
  }
  return new Response(empty ? null : out.body, { status, headers });
}

/**
 * A body stream as a web `ReadableStream`, pulled chunk by chunk (no read-ahead). When the
 * runtime stops pulling for `drainTimeoutMs`, or cancels, the stream is finished, which lets
 * the page go and releases the read's slot.
 */
function readableOf(body: ApiBodyStream, drainTimeoutMs: number): ReadableStream<Uint8Array> {
  const chunks = body[Symbol.asyncIterator]();
  const encoder = new TextEncoder();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    clearTimeout(timer);
    void chunks.return?.();
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        clearTimeout(timer);
        try {
          const { done, value } = await chunks.next();
          if (done) {
            controller.close();
            return;
          }
          controller.enqueue(encoder.encode(value));
          timer = setTimeout(() => {
            stop();
            controller.error(
              new Error(`the client read nothing for ${drainTimeoutMs} ms (drainTimeoutMs)`),
            );
          }, drainTimeoutMs);
          (timer as { unref?: () => void }).unref?.();
        } catch (error) {
          stop();
          controller.error(error);
        }
      },
      cancel: stop,
    },
    { highWaterMark: 0 },
  );
}

/** Read a body stream, stopping after `limit + 1` bytes (enough to answer 413). */
async function readLimited(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      chunks.push(value.subarray(0, value.length - (size - limit - 1)));
      size = limit + 1;
      void reader.cancel().catch(() => {});
      break;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
