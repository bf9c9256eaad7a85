import type { IncomingMessage, ServerResponse } from "node:http";
import { type EventApi, PREFLIGHT_HEADERS } from "@evt/server";

/** Which browser origins may call `POST /e/:eventKey`, and the check every browser request passes. */
export interface CorsPolicy {
  /** `true` when `origin` may read the answers of `POST /e/:eventKey` (CORS). */
  allows(origin: string): boolean;
}

const LOOPBACK_ORIGIN =
  /^https?:\/\/(?:localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(?::\d{1,5})?$/i;

/**
 * The gateway's CORS policy: the `--cors-origin` origins, plus in `dev` every loopback origin
 * (`http://localhost:3000`, `http://127.0.0.1:5173`, `http://[::1]:8080`, any port). `start`
 * with no `--cors-origin` allows no origin.
 *
 * @example
 * ```ts
 * createCorsPolicy("start", ["https://shop.example"]).allows("https://shop.example"); // true
 * ```
 */
export function createCorsPolicy(mode: "dev" | "start", origins: readonly string[]): CorsPolicy {
  const listed = new Set(origins.map((o) => o.replace(/\/$/, "").toLowerCase()));
  return {
    allows(origin) {
      const o = origin.toLowerCase();
      return listed.has(o) || (mode === "dev" && LOOPBACK_ORIGIN.test(o));
    },
  };
}

/** `application/json` or `application/<something>+json`, parameters allowed. */
export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const type = value.split(";", 1)[0]!.trim().toLowerCase();
  return type === "application/json" || /^application\/[a-z0-9.!#$&^_-]+\+json$/.test(type);
}

/**
 * CORS for `/e/:eventKey`, before the Event API sees the request. Answers a preflight from an
 * allowed origin itself; refuses with 415 a cross-origin `POST` whose body is not JSON (a
 * browser sends `text/plain` and form bodies from any page without asking first; a JSON body
 * needs a preflight, which only allowed origins pass); adds `Access-Control-Allow-Origin` for
 * allowed origins. Returns `true` when it answered the request.
 */
export function applyCors(
  req: IncomingMessage,
  res: ServerResponse,
  policy: CorsPolicy,
  reject: EventApi["reject"],
): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  // The gateway serves no pages: any Origin but its own is a page elsewhere.
  const own = `http://${req.headers.host ?? ""}`.toLowerCase();
  if (origin.toLowerCase() === own) return false;
  const allowed = policy.allows(origin);
  if (allowed) {
    res.setHeader("access-control-allow-origin", origin);
    res.setHeader("vary", "Origin");
  }
  if (req.method === "OPTIONS" && allowed) {
    res.writeHead(204, { ...PREFLIGHT_HEADERS, allow: "POST, OPTIONS", "content-length": "0" });
    res.end();
    return true;
  }
  if (req.method === "POST" && !isJsonContentType(req.headers["content-type"])) {
    const type = req.headers["content-type"];
    const out = reject(
      "unsupported_media_type",
      `A cross-origin POST needs Content-Type: application/json (got ${type === undefined ? "none" : JSON.stringify(type.slice(0, 100))}); browsers then ask first (CORS preflight) and only allowed origins may send`,
      "POST",
      "/e/:eventKey",
    );
    // The body is never read: close the connection after the answer.
    res.writeHead(out.status, {
      ...out.headers,
      connection: "close",
      "content-length": String(Buffer.byteLength(out.body)),
    });
    res.end(out.body);
    return true;
  }
  return false;
}
