import { existsSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { EventSource, StoredEvent } from "@evt/schema";
import { bearerToken, type KeyMatcher } from "@evt/server";
import type { Logger } from "pino";
import { sendJson } from "./http";

/** What the live stream (`GET /v1/stream`) carries. */
export type StreamMessage =
  | {
      kind: "event";
      event: {
        internal_id: string;
        id: string | null;
        name: string;
        env: string;
        received_at: number;
        ts: number;
        /** Where it came from, as stored (`null` for events stored before evt recorded it). */
        source: EventSource | null;
        source_id: string | null;
      };
    }
  | {
      kind: "run";
      run: { run_id: string; function_id: string; event_id: string; status: string };
    };

/** The stream message of a stored event: its ids, name, times and source, not its payload. */
export function eventMessage(e: StoredEvent): StreamMessage {
  return {
    kind: "event",
    event: {
      internal_id: e.internal_id,
      id: e.id,
      name: e.name,
      env: e.env,
      received_at: e.received_at,
      ts: e.ts,
      source: e.source,
      source_id: e.source_id,
    },
  };
}

/** The console: its static page at `/` and the live stream it reads. */
export interface GatewayConsole {
  /** Serves `/`, `/console/*`, `/v1/stream` and `/v1/status`; `false` for any other route. */
  route(req: IncomingMessage, res: ServerResponse, route: string): boolean;
  /** Send a message to every open stream. */
  publish(message: StreamMessage): void;
  /** Open streams. */
  readonly streams: number;
  /** End every stream (shutdown). */
  close(): void;
}

/** Options of {@link createConsole}. */
export interface ConsoleOptions {
  /** Who may read the stream: the read API's keys (open in `dev` or with --public-reads). */
  readKeys: KeyMatcher;
  logger: Logger;
  /** Streams open at once; past it a new one gets 503. @default 32 */
  maxStreams?: number;
  /** A stream whose client reads slower than this much buffered output is closed. @default 1 MiB */
  maxBufferedBytes?: number;
  /** Comment sent to idle streams so proxies keep them. @default 15_000 */
  heartbeatMs?: number;
  /** Where the built page is. @default `console/` next to the built gateway */
  assetsDir?: URL;
  /** What `GET /v1/status` answers in `data` (drivers, queue depth, ...). */
  status?: () => Promise<Record<string, unknown>>;
}

const ASSETS: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/console/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/console/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
};

/**
 * The built page: `dist/console/` beside the built gateway; from the TypeScript sources
 * (tests), the built one in `../dist/console/`.
 */
function defaultAssetsDir(): URL {
  const fromSource = import.meta.url.endsWith(".ts");
  return new URL(fromSource ? "../dist/console/" : "./console/", import.meta.url);
}

/**
 * The console: a static page (built with the gateway, no CDN) that reads the JSON API, and
 * `GET /v1/stream`, server-sent events of the events this gateway stores and the runs they
 * start and finish. The page holds no data: it is served to anyone; the stream and the API
 * it reads need the read API's key in `start` (the page asks for it).
 *
 * @example
 * ```ts
 * const consoleRoutes = createConsole({ readKeys, logger });
 * consoleRoutes.publish({ kind: "event", event: { internal_id, id: null, name, env, received_at, ts } });
 * ```
 */
export function createConsole(options: ConsoleOptions): GatewayConsole {
  const { readKeys, logger } = options;
  const maxStreams = options.maxStreams ?? 32;
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const dir = options.assetsDir ?? defaultAssetsDir();
  const files = new Map<string, Buffer>();
  for (const [path, asset] of Object.entries(ASSETS)) {
    const url = new URL(asset.file, dir);
    if (existsSync(url)) files.set(path, readFileSync(url));
  }
  const streams = new Set<ServerResponse>();
  const heartbeat = setInterval(() => {
    for (const res of streams) write(res, ": ping\n\n");
  }, heartbeatMs);
  heartbeat.unref();

  function write(res: ServerResponse, text: string): void {
    if (res.writableLength > maxBuffered) {
      // A client that does not read: let it go rather than buffer for it.
      streams.delete(res);
      res.destroy();
      return;
    }
    res.write(text);
  }

  function serveAsset(req: IncomingMessage, res: ServerResponse, path: string): void {
    req.resume();
    if (req.method !== "GET" && req.method !== "HEAD") {
      sendJson(res, 405, { status: 405, error: `GET ${path} only` }, { allow: "GET, HEAD" });
      return;
    }
    const asset = ASSETS[path];
    const body = files.get(path);
    if (asset === undefined) {
      sendJson(res, 404, {
        status: 404,
        error: `no console file at ${path} (the page is at /)`,
      });
      return;
    }
    if (body === undefined) {
      sendJson(res, 503, {
        status: 503,
        error:
          "the console is not built: run `sh scripts/pnpm.sh --filter @evt/gateway run build` (it builds dist/console/)",
      });
      return;
    }
    res.writeHead(200, {
      "content-type": asset.type,
      "content-length": body.length,
      "cache-control": path === "/" ? "no-cache" : "public, max-age=300",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
      "content-security-policy":
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    });
    res.end(req.method === "HEAD" ? undefined : body);
  }

  /** `false` (and the answer sent) unless the request is a GET with the read key. */
  function readable(req: IncomingMessage, res: ServerResponse, route: string): boolean {
    req.resume();
    if (req.method !== "GET") {
      sendJson(res, 405, { status: 405, error: `GET ${route} only` }, { allow: "GET" });
      return false;
    }
    if (!readKeys.open && !readKeys.matches(bearerToken(req.headers.authorization))) {
      sendJson(
        res,
        401,
        { status: 401, error: `GET ${route} needs an API key: Authorization: Bearer <key>` },
        { "www-authenticate": "Bearer" },
      );
      return false;
    }
    return true;
  }

  async function serveStatus(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!readable(req, res, "/v1/status")) return;
    const data = { ...(options.status ? await options.status() : {}), streams: streams.size };
    sendJson(res, 200, { data });
  }

  function openStream(req: IncomingMessage, res: ServerResponse): void {
    if (!readable(req, res, "/v1/stream")) return;
    if (streams.size >= maxStreams) {
      sendJson(
        res,
        503,
        {
          status: 503,
          error: `${maxStreams} streams are open, the most this gateway serves; close one and retry`,
        },
        { "retry-after": "5" },
      );
      return;
    }
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
    });
    res.write(`retry: 2000\n: evt stream\n\n`);
    streams.add(res);
    const gone = () => streams.delete(res);
    res.once("close", gone);
    req.socket.setTimeout?.(0);
  }

  return {
    route(req, res, route) {
      if (route === "/v1/stream") {
        openStream(req, res);
        return true;
      }
      if (route === "/v1/status") {
        serveStatus(req, res).catch((err: unknown) => {
          logger.warn({ err }, "GET /v1/status failed");
          if (!res.headersSent)
            sendJson(
              res,
              503,
              { status: 503, error: "status unavailable: a store does not answer; retry" },
              { "retry-after": "1" },
            );
        });
        return true;
      }
      if (route === "/" || route === "/console/:asset") {
        const path = (req.url ?? "/").split("?", 1)[0]!;
        serveAsset(req, res, path === "/" ? "/" : path.replace(/\/$/, ""));
        return true;
      }
      return false;
    },
    publish(message) {
      if (streams.size === 0) return;
      let text: string;
      try {
        text = `event: ${message.kind}\ndata: ${JSON.stringify(message.kind === "event" ? message.event : message.run)}\n\n`;
      } catch (err) {
        logger.warn({ err }, "a console stream message could not be encoded");
        return;
      }
      for (const res of streams) write(res, text);
    },
    get streams() {
      return streams.size;
    },
    close() {
      clearInterval(heartbeat);
      for (const res of streams) res.end();
      streams.clear();
    },
  };
}
