import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { ServerError } from "./errors.js";
import { normalizeBasePath, stripBasePath } from "./routes.js";
import { discardBody, writeBody } from "./stream-body.js";
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
  /**
   * Body bytes all requests in flight may hold together; past it a request gets 503 with
   * `Retry-After` and its connection is closed, its body unread. A declared `Content-Length`
   * is reserved before reading; a chunked body is counted as it arrives. Must be at least
   * `maxRequestBytes`. `/health` and `/ready` have no body and are never refused for it.
   * @default 67_108_864 (64 MiB)
   */
  maxInflightBytes?: number;
  /**
   * Requests one connection may have in flight at once (HTTP/1.1 pipelining). The request past
   * it ends the connection: one client cannot hold the concurrency cap with one socket.
   * @default 16
   */
  maxPipelinedRequests?: number;
  /**
   * How long a streamed answer (a `GET /v1/events` page) waits for a client that stopped
   * reading to take more; then the connection is destroyed and the page let go.
   * @default 10_000
   */
  drainTimeoutMs?: number;
}

/** Default of {@link NodeHandlerOptions.maxInflightBytes}. */
export const DEFAULT_MAX_INFLIGHT_BYTES = 64 * 1024 * 1024;
/** Default of {@link NodeHandlerOptions.maxPipelinedRequests}. */
export const DEFAULT_MAX_PIPELINED_REQUESTS = 16;

/** Probes answer even when ingest is saturated: they hold no body and touch no store for long. */
function isProbe(url: string): boolean {
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  return path === "/health" || path === "/ready" || path === "/health/" || path === "/ready/";
}

/** The request carries a body (declared, or chunked). */
function hasBody(headers: Record<string, string | undefined>): boolean {
  const len = headers["content-length"];
  if (len !== undefined && len !== "0") return true;
  return headers["transfer-encoding"] !== undefined;
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

/** A body read's deadline in {@link BodyDeadlines}; `fire` is `null` once settled. */
interface Deadline {
  at: number;
  fire: (() => void) | null;
}

/** Longest delay `setTimeout` takes; node runs longer (and non-numeric) ones after 1 ms. */
const TIMEOUT_MAX = 2 ** 31 - 1;

/**
 * The deadlines of the body reads in flight, behind one timer. Every read gets the same
 * timeout, so deadlines come in start order: a queue, its head the next to expire. A timer per
 * read cost more than the rest of the read (node drops and re-creates its list of timers of
 * one duration whenever it runs empty, which it does at every request when they do not
 * overlap); here the one timer stays armed for the head and is re-armed only when it fires.
 */
class BodyDeadlines {
  readonly #ms: number;
  #queue: Deadline[] = [];
  #head = 0;
  /** Deadlines not yet fired nor cancelled. */
  #live = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(timeoutMs: number) {
    // What setTimeout does with the delay, so that the deadline is the one a timer would have.
    this.#ms = timeoutMs >= 1 && timeoutMs <= TIMEOUT_MAX ? timeoutMs : 1;
  }

  /** Call `fire` once the timeout has passed, unless {@link BodyDeadlines.cancel}led first. */
  add(fire: () => void): Deadline {
    const d: Deadline = { at: performance.now() + this.#ms, fire };
    this.#queue.push(d);
    this.#live++;
    if (this.#timer === null) this.#arm(this.#ms);
    return d;
  }

  /** Forget `d` (its read settled); safe to call more than once. */
  cancel(d: Deadline): void {
    if (d.fire === null) return;
    d.fire = null;
    this.#live--;
    this.#trim();
  }

  /**
   * Drop settled deadlines from the head (reads mostly settle in the order they started), and
   * all of them once they outnumber the live ones behind a slow read at the head.
   */
  #trim(): void {
    const q = this.#queue;
    while (this.#head < q.length && q[this.#head]!.fire === null) this.#head++;
    const held = q.length - this.#head;
    if (held === 0) {
      q.length = 0;
      this.#head = 0;
    } else if (held > 1024 && this.#live * 2 < held) {
      this.#queue = q.slice(this.#head).filter((d) => d.fire !== null);
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > q.length) {
      this.#queue = q.slice(this.#head);
      this.#head = 0;
    }
  }

  #arm(delay: number): void {
    const timer = setTimeout(this.#expire, delay);
    // A read in flight keeps its connection, and so the process, alive; this timer need not.
    timer.unref();
    this.#timer = timer;
  }

  readonly #expire = (): void => {
    this.#timer = null;
    const now = performance.now();
    try {
      for (;;) {
        // Re-read each time: a settled read trims the queue (its cleanup cancels its deadline).
        const d = this.#queue[this.#head];
        if (d === undefined || (d.fire !== null && d.at > now)) break;
        this.#head++;
        const fire = d.fire;
        if (fire === null) continue;
        d.fire = null;
        this.#live--;
        fire();
      }
    } finally {
      this.#trim();
      const next = this.#queue[this.#head];
      if (next !== undefined && this.#timer === null) {
        this.#arm(Math.max(1, Math.ceil(next.at - now)));
      }
    }
  };
}

/** Requests in flight on one connection, and how to release each. */
interface SocketState {
  queued: number;
  releases: Set<() => void>;
}

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
  const deadlines = new BodyDeadlines(bodyTimeoutMs);
  const maxConcurrent = options.maxConcurrentRequests ?? 512;
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  const limit = api.maxRequestBytes;
  const maxInflightBytes = options.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES;
  const maxPipelined = options.maxPipelinedRequests ?? DEFAULT_MAX_PIPELINED_REQUESTS;
  checkCaps(maxInflightBytes, maxPipelined, limit);
  /** Requests in flight per connection (pipelining). */
  const perSocket = new WeakMap<Socket, SocketState>();
  /** Body bytes reserved or received by requests in flight. */
  let inflightBytes = 0;
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
    if (res.headersSent || res.destroyed) {
      discardBody(out.body);
      return;
    }
    if (draining || close) out.headers.connection = "close";
    // The core echoes the request id on what it answers; the refusals made here get it too.
    if (out.headers["x-request-id"] === undefined) {
      const requestId = clientRequestId(res.req?.headers["x-request-id"] as string | undefined);
      if (requestId !== undefined) out.headers["x-request-id"] = requestId;
    }
    if (typeof out.body !== "string") {
      res.writeHead(out.status, out.headers);
      void writeBody(res, out.body, drainTimeoutMs);
      return;
    }
    out.headers["content-length"] = String(Buffer.byteLength(out.body));
    res.writeHead(out.status, out.headers);
    res.end(out.body);
  }

  function busyBodies(method: string, url: string): ApiResponse {
    return api.reject(
      "unavailable",
      `Too many request bodies in flight (allowed: ${maxInflightBytes} bytes in all); retry the request`,
      method,
      url,
    );
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
    // A body on another method is never read: the connection ends after the answer, so the
    // unread bytes cannot be parsed as the next request nor drained without bound.
    let close = method !== "POST" && hasBody(headers);
    const requestId = clientRequestId(headers["x-request-id"]);
    if (method === "POST") {
      const early = api.screen(
        requestId === undefined ? { method, url, headers } : { method, url, headers, requestId },
      );
      if (early !== null) {
        // Decided by the head (unknown key, too large, ...): the body is never read.
        send(res, early, true);
        return;
      }
      const declared = Number(headers["content-length"]);
      if (declared > limit) {
        // The core answers 413 from Content-Length alone; the body is never read.
        close = true;
      } else {
        // Not Math.max: a missing or bad Content-Length is NaN, which must reserve nothing.
        // biome-ignore lint/complexity/useMathMinMax: NaN must map to 0
        const reserved = declared > 0 ? declared : 0;
        if (inflightBytes + reserved > maxInflightBytes) {
          send(res, busyBodies(method, url), true);
          return;
        }
        inflightBytes += reserved;
        let charged = reserved;
        // A chunked body (no Content-Length) is counted as it arrives.
        const charge =
          reserved > 0
            ? null
            : (n: number) => {
                inflightBytes += n;
                charged += n;
                return inflightBytes <= maxInflightBytes;
              };
        let read: Uint8Array | "timeout" | "busy";
        try {
          read = await readBody(req, limit, deadlines, charge);
        } finally {
          inflightBytes -= charged;
        }
        if (read === "busy") {
          send(res, busyBodies(method, url), true);
          req.destroy();
          return;
        }
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
    const out = await api.handle({ method, url, headers, body, requestId });
    send(res, out, close);
  }

  /** What to do when a connection closes: release its requests (see below). */
  function socketState(socket: Socket): SocketState {
    let state = perSocket.get(socket);
    if (state === undefined) {
      const created: SocketState = { queued: 0, releases: new Set() };
      state = created;
      perSocket.set(socket, created);
      // A pipelined request waiting behind another one never gets its response's "close"
      // when the connection dies: release every request of the connection here.
      socket.once("close", () => {
        for (const release of created.releases) release();
      });
    }
    return state;
  }

  const handler = ((req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const state = socketState(socket);
    if (state.queued >= maxPipelined) {
      // One connection may not hold more of the concurrency cap than this: end it.
      socket.destroy();
      return;
    }
    const probe = isProbe(req.url ?? "/");
    if (!probe && maxConcurrent > 0 && inFlight >= maxConcurrent) {
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
    state.queued++;
    let counted = true;
    const release = () => {
      if (!counted) return;
      counted = false;
      state.queued--;
      state.releases.delete(release);
      finished();
    };
    state.releases.add(release);
    // `on`, not `once`: a response closes once (release runs once anyway), and once's wrapper
    // costs on every request.
    res.on("close", release);
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
 * means "too large": reading stopped there), `"timeout"`, or `"busy"` when `charge` refuses a
 * chunk (the in-flight byte budget is spent); rejects with `BodyAborted` when the client
 * disconnects.
 */
function readBody(
  req: IncomingMessage,
  limit: number,
  deadlines: BodyDeadlines,
  charge: ((bytes: number) => boolean) | null,
): Promise<Uint8Array | "timeout" | "busy"> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const deadline = deadlines.add(() => settle("timeout"));
    function cleanup(): void {
      deadlines.cancel(deadline);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    }
    function settle(value: Uint8Array | "timeout" | "busy" | BodyAborted): void {
      if (settled) return;
      settled = true;
      cleanup();
      if (value instanceof BodyAborted) reject(value);
      else resolve(value);
    }
    function onData(chunk: Buffer): void {
      size += chunk.length;
      if (charge !== null && !charge(chunk.length)) {
        req.pause();
        settle("busy");
        return;
      }
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

function checkCaps(maxInflightBytes: number, maxPipelined: number, limit: number): void {
  if (!Number.isSafeInteger(maxInflightBytes) || maxInflightBytes < limit) {
    throw new ServerError(
      "invalid_options",
      `maxInflightBytes must be an integer of at least maxRequestBytes (${limit}), got ${String(maxInflightBytes)}`,
    );
  }
  if (!Number.isSafeInteger(maxPipelined) || maxPipelined < 1) {
    throw new ServerError(
      "invalid_options",
      `maxPipelinedRequests must be a positive integer, got ${String(maxPipelined)}`,
    );
  }
}
