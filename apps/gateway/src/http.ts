import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { bearerToken, type EventApi, KeyMatcher } from "@evt/server";
import type { Logger } from "pino";
import type { GatewayConsole } from "./console";
import { applyCors, type CorsPolicy } from "./cors";
import type { GatewayFunctions } from "./functions";
import type { GatewayMetrics } from "./metrics";
import type { GatewayWebhooks } from "./webhooks";

/** A node:http request listener. */
export type NodeListener = (req: IncomingMessage, res: ServerResponse) => void;

const SANE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * The request id of a request: the client's `x-request-id` when it is short and plain
 * (1..128 of `A-Z a-z 0-9 . _ : @ / + = -`), else a fresh UUID. Never trusts arbitrary text
 * into logs.
 */
export function requestIdOf(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && SANE_REQUEST_ID.test(value) ? value : randomUUID();
}

/**
 * The route template of a request target, for logs and metric labels, matched as the Event API
 * matches it (a trailing slash ignored, an absolute-form target `http://host/e/k` read by its
 * path). Never the raw path: it holds the event key (`/e/<key>`).
 */
export function routeOf(url: string | undefined): string {
  const target = url ?? "/";
  const q = target.indexOf("?");
  let path = q < 0 ? target : target.slice(0, q);
  if (path.charCodeAt(0) !== 47 /* / */) {
    // Absolute form (RFC 9112 3.2.2): scheme://authority[/path]; anything else is no route.
    const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*(\/.*)?$/.exec(path);
    if (m === null) return "unknown";
    path = m[1] ?? "/";
  }
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  // The event route first: nearly every request.
  if (path.startsWith("/e/")) return path.indexOf("/", 3) < 0 ? "/e/:eventKey" : "unknown";
  // The console: its page, its files and its live stream.
  if (path === "/" || path === "/v1/stream" || path === "/v1/status") return path;
  if (path.startsWith("/console/")) return "/console/:asset";
  if (path === "/v1/events" || path === "/v1/envs") return path;
  if (path.startsWith("/v1/events/")) {
    const slash = path.indexOf("/", 11);
    if (slash < 0) return "/v1/events/:internalId";
    return path.slice(slash) === "/runs" ? "/v1/events/:internalId/runs" : "unknown";
  }
  if (path === "/health" || path === "/ready" || path === "/metrics") return path;
  if (
    path === "/fn/register" ||
    path === "/dev" ||
    path === "/v1/apps" ||
    path === "/v1/apps/sync" ||
    path === "/v1/functions"
  )
    return path;
  if (path.startsWith("/v1/functions/") && path.endsWith("/invoke")) {
    const middle = path.slice("/v1/functions/".length, -"/invoke".length);
    return middle !== "" && !middle.includes("/") ? "/v1/functions/:functionId/invoke" : "unknown";
  }
  if (path === "/v1/webhooks") return path;
  if (path.startsWith("/v1/webhooks/"))
    return path.indexOf("/", 13) < 0 ? "/v1/webhooks/:webhookId" : "unknown";
  if (path.startsWith("/w/")) return path.indexOf("/", 3) < 0 ? "/w/:webhookId" : "unknown";
  if (path.startsWith("/v1/runs/")) {
    const slash = path.indexOf("/", 9);
    if (slash < 0) return "/v1/runs/:runId";
    return path.slice(slash) === "/replay" ? "/v1/runs/:runId/replay" : "unknown";
  }
  return "unknown";
}

/** A JSON answer with its length. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: object,
  headers: Record<string, string> = {},
) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Options of {@link createGatewayListener}. */
export interface GatewayListenerOptions {
  /** The Event API's node handler (`createNodeHandler(api)` from `@evt/server/node`). */
  api: NodeListener;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Keys that may read `/metrics`; none: open. */
  apiKeys: readonly string[];
  /** Browser origins allowed on `/e/:eventKey` (the API itself runs with `cors: false`). */
  cors: CorsPolicy;
  /** The Event API's `reject`, for refusals answered here (counted like the API's own). */
  reject: EventApi["reject"];
  /** The functions routes (`/fn/register`, `/v1/runs/:id`, ...). */
  functions?: Pick<GatewayFunctions, "route">;
  /** The console (`/`, `/console/*`, `/v1/stream`). */
  console?: Pick<GatewayConsole, "route">;
  /** The webhook routes (`/w/:webhookId`, `/v1/webhooks[/:id]`). */
  webhooks?: Pick<GatewayWebhooks, "route">;
}

/**
 * The gateway's request listener: assigns the request id, serves `GET /metrics`, counts
 * requests in flight, writes one access log line per request (route template, never the URL),
 * and hands everything else to the Event API. Runs as `listen()`'s `wrap`, which marks answers
 * with `connection: close` once shutdown began.
 */
export function createGatewayListener(options: GatewayListenerOptions): NodeListener {
  const { api, metrics, logger } = options;
  // The same key check as the read API: one bearer parser, one constant-time comparison.
  const apiKeys = new KeyMatcher(options.apiKeys);
  return (req, res) => {
    const started = performance.now();
    const requestId = requestIdOf(req.headers["x-request-id"]);
    req.headers["x-request-id"] = requestId;
    const route = routeOf(req.url);
    // An event POST without an Origin goes straight to the Event API, which puts the request
    // id on every answer itself; a header set here would only take node:http's slower path of
    // merging headers. Every other request gets it here.
    if (route !== "/e/:eventKey" || req.headers.origin !== undefined) {
      res.setHeader("x-request-id", requestId);
    }
    const done = metrics.requestStarted();

    // `on`, not `once`: a response closes once, and once's wrapper costs on every request.
    res.on("close", () => {
      done();
      const finished = res.writableFinished;
      // Nothing sent yet: there is no status (res.statusCode would still read its default, 200).
      const status = res.headersSent ? res.statusCode : null;
      // Refusals (4xx) log at debug like successes: a client can cause them at will, so at info
      // they would let anyone fill the log. They are counted in evt_requests_rejected_total.
      const level = !finished ? "info" : status !== null && status >= 500 ? "warn" : "debug";
      // Successes log at debug: skip building the line when that level is off (the hot path).
      if (!logger.isLevelEnabled(level)) return;
      const ms = Math.round((performance.now() - started) * 1000) / 1000;
      const line = finished
        ? { requestId, method: req.method, route, status, ms }
        : { requestId, method: req.method, route, status, ms, aborted: true };
      const msg = !finished
        ? status === null
          ? "connection closed before the answer was sent"
          : "connection closed before the answer was complete"
        : status !== null && status >= 500
          ? "request failed"
          : status !== null && status >= 400
            ? "request refused"
            : "request";
      logger[level](line, msg);
    });

    if (route === "/e/:eventKey" && applyCors(req, res, options.cors, options.reject)) return;
    if (route === "/metrics") {
      serveMetrics(req, res, metrics, apiKeys).catch((err: unknown) => {
        logger.error({ requestId, err }, "rendering /metrics failed");
        if (!res.headersSent) sendJson(res, 500, { status: 500, error: "metrics unavailable" });
        else res.destroy();
      });
      return;
    }
    if (options.console?.route(req, res, route)) return;
    if (options.webhooks?.route(req, res, route)) return;
    if (options.functions?.route(req, res, route)) return;
    api(req, res);
  };
}

async function serveMetrics(
  req: IncomingMessage,
  res: ServerResponse,
  metrics: GatewayMetrics,
  apiKeys: KeyMatcher,
): Promise<void> {
  req.resume();
  if (req.method !== "GET" && req.method !== "HEAD") {
    sendJson(res, 405, { status: 405, error: "GET /metrics only" }, { allow: "GET, HEAD" });
    return;
  }
  if (!apiKeys.open) {
    if (!apiKeys.matches(bearerToken(req.headers.authorization))) {
      sendJson(
        res,
        401,
        { status: 401, error: "GET /metrics needs an API key: Authorization: Bearer <key>" },
        { "www-authenticate": "Bearer" },
      );
      return;
    }
  }
  const text = await metrics.render();
  res.writeHead(200, {
    "content-type": metrics.contentType,
    "content-length": Buffer.byteLength(text),
  });
  res.end(req.method === "HEAD" ? undefined : text);
}
