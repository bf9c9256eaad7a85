import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { trackConnections } from "./connections.js";
import { ServerError } from "./errors.js";
import { createNodeHandler, type NodeHandler, type NodeHandlerOptions } from "./handler.js";
import { createHostCheck, requestHost } from "./hosts.js";
import type { EventApi } from "./types.js";

/** A node:http request listener: `(req, res) => void`. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * During `close()`, once every request in flight is answered, how long a connection that is
 * not answering a request may stay open (time for a fresh connection to send its request).
 */
const SILENT_GRACE_MS = 1_000;

/** Options of {@link listen}. */
export interface ListenOptions extends NodeHandlerOptions {
  /** Port; `0` picks a free one (see the returned `url`). */
  port: number;
  /**
   * Interface to bind.
   * @default "127.0.0.1"
   */
  host?: string;
  /**
   * Time allowed for a client to send the request headers.
   * @default 10_000
   */
  headersTimeoutMs?: number;
  /**
   * Time allowed for a whole request (headers and body); node's backstop behind `bodyTimeoutMs`.
   * @default 30_000
   */
  requestTimeoutMs?: number;
  /**
   * How long an idle keep-alive connection stays open.
   * @default 5_000
   */
  keepAliveTimeoutMs?: number;
  /**
   * The hard cut of `close()`: connections still open this long after `close()` began are
   * destroyed, answered or not. `Infinity`: never cut (bound the shutdown yourself, e.g. with a
   * timer that exits the process).
   * @default 10_000
   */
  closeTimeoutMs?: number;
  /**
   * Host names this server answers for (the `Host` header, or the authority of an
   * absolute-form target; ports ignored). A request for any other host gets
   * `421 Misdirected Request` with the connection closed, before any route runs (routes added
   * by `wrap` included): the defence against DNS rebinding, where a web page whose name was
   * pointed at 127.0.0.1 talks to a local server. See {@link createHostCheck}.
   * @default none: any Host is served
   * @example
   * ```ts
   * await listen(api, { port: 8288, allowedHosts: ["localhost", "127.0.0.1", "[::1]"] });
   * ```
   */
  allowedHosts?: readonly string[];
  /**
   * Wraps the Event API's listener, to serve more routes or do work around every request
   * (request ids, metrics, access logs). Gets the handler `listen()` built from `api` and these
   * options (a {@link NodeHandler}), returns the listener the server runs. Requests the wrapper
   * answers itself get the same shutdown care: their connections are tracked, and once
   * `close()` began their answers carry `connection: close`.
   * @default none: the handler serves every request
   * @example
   * ```ts
   * await listen(api, {
   *   port: 8288,
   *   wrap: (handler) => (req, res) => {
   *     if (req.url === "/version") {
   *       res.end("1.2.3");
   *       return;
   *     }
   *     handler(req, res);
   *   },
   * });
   * ```
   */
  wrap?: (handler: NodeHandler) => RequestListener;
}

/** A running listener. */
export interface Listener {
  server: Server;
  /** Base URL, e.g. `http://127.0.0.1:8288` (use it as the SDK's `baseUrl`). */
  url: string;
  /**
   * Graceful shutdown, safe to call twice. Stops accepting connections and closes the Event
   * API (`api.close()`: new events and `/ready` get 503 with `Retry-After`). Every request
   * already received is answered, with `connection: close`. Keep-alive connections between
   * requests are ended at once, busy ones after their answer; once no request is in flight, a
   * connection that still sends nothing is ended after 1 s; after `closeTimeoutMs` whatever is
   * still open is destroyed. Resolves once every connection is gone and the API has finished
   * its requests; the stores stay open.
   */
  close(): Promise<void>;
}

/**
 * Serve an {@link EventApi} on node:http with timeouts against slow clients, a cap on
 * concurrent requests, and a graceful `close()`. `wrap` puts your own listener around the API.
 *
 * @example
 * ```ts
 * import { listen } from "@evt/server/node";
 *
 * const { url, close } = await listen(api, { port: 8288 });
 * console.log(`POST ${url}/e/<key>`);
 * process.on("SIGTERM", () => void close());
 * ```
 */
export async function listen(api: EventApi, options: ListenOptions): Promise<Listener> {
  const host = options.host ?? "127.0.0.1";
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new ServerError(
      "invalid_options",
      `listen: port must be an integer from 0 to 65535, got ${String(options.port)}`,
    );
  }
  if (typeof closeTimeoutMs !== "number" || Number.isNaN(closeTimeoutMs) || closeTimeoutMs < 0) {
    throw new ServerError(
      "invalid_options",
      `listen: closeTimeoutMs must be a number of milliseconds from 0 (Infinity: never cut), got ${String(closeTimeoutMs)}`,
    );
  }
  const checkHost = options.allowedHosts ? createHostCheck(options.allowedHosts) : null;
  const handler = createNodeHandler(api, options);
  const serve = options.wrap ? options.wrap(handler) : handler;
  if (typeof serve !== "function") {
    throw new ServerError(
      "invalid_options",
      `listen: wrap must return a (req, res) => void listener, got ${typeof serve}`,
    );
  }
  const server = createServer({
    headersTimeout,
    requestTimeout,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 5_000,
    connectionsCheckingInterval: Math.max(50, Math.min(headersTimeout, requestTimeout, 30_000) / 2),
  });
  const connections = trackConnections(server);
  let shuttingDown = false;
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    connections.track(req, res);
    if (shuttingDown) res.setHeader("connection", "close");
    if (checkHost !== null) {
      const refused = checkHost(requestHost(req.url, req.headers.host));
      if (refused !== null) {
        misdirected(api, req, res, refused);
        return;
      }
    }
    serve(req, res);
  });
  server.on("clientError", answerClientError);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      reject(
        new ServerError(
          "listen_failed",
          `cannot listen on ${host}:${options.port}: ${err.message}`,
          { cause: err },
        ),
      );
    };
    server.once("error", onError);
    server.listen(options.port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `http://${shownHost}:${addr.port}`;
  let closing: Promise<void> | null = null;
  return {
    server,
    url,
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        const stopped = stopAccepting(server);
        connections.closeIdle();
        const cut = Number.isFinite(closeTimeoutMs)
          ? setTimeout(() => connections.destroyAll(), closeTimeoutMs)
          : undefined;
        try {
          await Promise.all([handler.drain(), api.close()]);
          connections.endSilentAfter(SILENT_GRACE_MS);
          await stopped;
        } finally {
          clearTimeout(cut);
          connections.stop();
        }
      })();
      return closing;
    },
  };
}

/**
 * Stop accepting connections and resolve once the accepted ones are all gone. `http.Server`'s
 * `close()` also runs `closeIdleConnections()`, which destroys connections between requests at
 * once; shutdown ends those itself (gently, and a fresh one only after a grace), so that one
 * call is skipped here.
 */
function stopAccepting(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.closeIdleConnections = () => {};
    try {
      server.close(() => resolve());
    } finally {
      Reflect.deleteProperty(server, "closeIdleConnections");
    }
  });
}

/** 421 for a host this server does not serve; the body is never read, the connection closed. */
function misdirected(api: EventApi, req: IncomingMessage, res: ServerResponse, message: string) {
  const out = api.reject("misdirected", message, req.method, "/");
  out.headers.connection = "close";
  out.headers["content-length"] = String(Buffer.byteLength(out.body));
  res.writeHead(out.status, out.headers);
  res.end(req.method === "HEAD" ? undefined : out.body);
}

/** A client error (malformed request line, timeout) gets a short JSON answer, never a crash. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || err.code === "ECONNRESET") {
    socket.destroy();
    return;
  }
  const status =
    err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
  const reason =
    status === 408
      ? "Request Timeout"
      : status === 431
        ? "Request Header Fields Too Large"
        : "Bad Request";
  const body = JSON.stringify({
    ids: [],
    status,
    error: `Malformed or incomplete request (${err.code ?? "client error"})`,
  });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
