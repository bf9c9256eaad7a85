import type { IncomingMessage, ServerResponse } from "node:http";
import { normalizeBasePath, stripBasePath } from "./routes.js";
import type { ApiResponse, EventApi } from "./types.js";
import { clientRequestId } from "./validate.js";

/** Options of {@link createNodeHandler}. */
export interface NodeHandlerOptions {
  /**
   * Mount prefix stripped from request paths, e.g. `/api/evt` serves `POST /api/evt/e/:key`.
   * Not needed under Express `app.use(prefix, handler)`, which strips the prefix itself.
   * @default ""
   */
  basePath?: string;
  /**
   * Time allowed for the whole body to arrive once headers are in; a slower client gets 408
   * and the connection is closed.
   * @default 10_000
   */
  bodyTimeoutMs?: number;
  /**
   * Requests handled at once; past it, 503 with `Retry-After`. Bounds memory: each request
   * buffers at most `maxRequestBytes` (512 requests x 512 KiB = 256 MiB). `0`: unlimited.
   * @default 512
   */
  maxConcurrentRequests?: number;
}

/** A node:http request listener with its in-flight bookkeeping. */
export interface NodeHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** Requests being handled now. */
  readonly inFlight: number;
  /** Answer later requests with `Connection: close` and resolve when none is in flight. */
  drain(): Promise<void>;
}

class BodyAborted extends Error {}

/**
 * Adapt an {@link EventApi} to node:http: `(req, res) => void` for `http.createServer`,
 * Express, Fastify (`reply.hijack()`) or Next.js pages API routes. Reads at most
 * `maxRequestBytes + 1` body bytes (413 without buffering the rest, also from
 * `Content-Length` up front), times out slow bodies with 408, and never leaves an unhandled
 * rejection when a client disconnects mid-request.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { createNodeHandler } from "@evt/server/node";
 *
 * createServer(createNodeHandler(api)).listen(8288);
 * ```
 */
export function createNodeHandler(api: EventApi, options: NodeHandlerOptions = {}): NodeHandler {
  const basePath = normalizeBasePath(options.basePath);
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 10_000;
  const maxConcurrent = options.maxConcurrentRequests ?? 512;
  const limit = api.maxRequestBytes;
  let inFlight = 0;
  let draining = false;
  let drained: (() => void) | null = null;

  function finished(): void {
    inFlight--;
    if (draining && inFlight === 0 && drained) {
      drained();
      drained = null;
    }
  }

  function send(res: ServerResponse, out: ApiResponse, close: boolean): void {
    if (res.headersSent || res.destroyed) return;
    if (draining || close) out.headers.connection = "close";
    out.headers["content-length"] = String(Buffer.byteLength(out.body));
    res.writeHead(out.status, out.headers);
    res.end(out.body);
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const rawUrl = req.url ?? "/";
    const url = basePath === "" ? rawUrl : stripBasePath(rawUrl, basePath);
    if (url === null) {
      send(
        res,
        api.reject("not_found", `Not found (this API is mounted under ${basePath})`, method, "/"),
        false,
      );
      return;
    }
    const headers = req.headers as Record<string, string | undefined>;
    let body: Uint8Array | null = null;
    let close = false;
    if (method === "POST") {
      const declared = Number(headers["content-length"]);
      if (declared > limit) {
        // The core answers 413 from Content-Length alone; the body is never read.
        close = true;
      } else {
        const read = await readBody(req, limit, bodyTimeoutMs);
        if (read === "timeout") {
          send(
            res,
            api.reject(
              "timeout",
              `Request body was not received within ${bodyTimeoutMs} ms (allowed: a complete body within ${bodyTimeoutMs} ms)`,
              method,
              url,
            ),
            true,
          );
          req.destroy();
          return;
        }
        body = read;
        if (body.length > limit) close = true;
      }
    }
    const out = await api.handle({
      method,
      url,
      headers,
      body,
      requestId: clientRequestId(headers["x-request-id"]),
    });
    send(res, out, close);
  }

  const handler = ((req: IncomingMessage, res: ServerResponse) => {
    if (maxConcurrent > 0 && inFlight >= maxConcurrent) {
      send(
        res,
        api.reject(
          "unavailable",
          `Too many concurrent requests (allowed: ${maxConcurrent}); retry the request`,
          req.method,
          req.url,
        ),
        false,
      );
      return;
    }
    inFlight++;
    let counted = true;
    res.once("close", () => {
      if (counted) {
        counted = false;
        finished();
      }
    });
    serve(req, res).catch((err: unknown) => {
      if (err instanceof BodyAborted) {
        // The client went away mid-body: nobody is left to answer.
        if (!res.destroyed) res.destroy();
        return;
      }
      // api.handle never rejects; reaching this means the socket itself failed.
      if (!res.headersSent && !res.destroyed) {
        send(res, api.reject("internal", "Internal server error", req.method, req.url), true);
      } else if (!res.destroyed) {
        res.destroy();
      }
    });
  }) as NodeHandler;

  Object.defineProperty(handler, "inFlight", { get: () => inFlight });
  handler.drain = () => {
    draining = true;
    if (inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const prev = drained;
      drained = () => {
        prev?.();
        resolve();
      };
    });
  };
  return handler;
}

/**
 * Read at most `limit + 1` bytes of a body. Resolves with the bytes (longer than `limit`
 * means "too large": reading stopped there), or `"timeout"`; rejects with `BodyAborted` when
 * the client disconnects.
 */
function readBody(
  req: IncomingMessage,
  limit: number,
  timeoutMs: number,
): Promise<Uint8Array | "timeout"> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const timer = setTimeout(() => settle("timeout"), timeoutMs);
    function cleanup(): void {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    }
    function settle(value: Uint8Array | "timeout" | BodyAborted): void {
      if (settled) return;
      settled = true;
      cleanup();
      if (value instanceof BodyAborted) reject(value);
      else resolve(value);
    }
    function onData(chunk: Buffer): void {
      size += chunk.length;
      if (size > limit) {
        // Keep exactly limit + 1 bytes: enough for the core to answer 413; drop the rest.
        const over = size - (limit + 1);
        chunks.push(over > 0 ? chunk.subarray(0, chunk.length - over) : chunk);
        req.pause();
        settle(Buffer.concat(chunks));
        return;
      }
      chunks.push(chunk);
    }
    function onEnd(): void {
      settle(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    }
    function onError(): void {
      settle(new BodyAborted());
    }
    function onClose(): void {
      if (!req.complete) settle(new BodyAborted());
    }
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}
