import type { RouteName } from "./types.js";

/** Exact paths, looked up in one map access (no regex routing on the hot path). */
const STATIC: ReadonlyMap<string, RouteName> = new Map<string, RouteName>([
  ["/health", "/health"],
  ["/ready", "/ready"],
  ["/v1/events", "/v1/events"],
  ["/v1/envs", "/v1/envs"],
]);

const EVENTS_PREFIX = "/e/";
const READ_PREFIX = "/v1/events/";

/** Split a request target into path and query (without `?`). Accepts absolute URLs too. */
export function splitUrl(url: string): { path: string; query: string } {
  if (url.charCodeAt(0) !== 47 /* / */) {
    try {
      const u = new URL(url);
      return { path: u.pathname, query: u.search.slice(1) };
    } catch {
      return { path: url, query: "" };
    }
  }
  const q = url.indexOf("?");
  return q < 0 ? { path: url, query: "" } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

/** Which route a path is, and its one parameter (event key or internal id; "" otherwise). */
export function matchRoute(path: string): { route: RouteName; param: string } {
  if (path.length > 1 && path.charCodeAt(path.length - 1) === 47) path = path.slice(0, -1);
  if (path.startsWith(EVENTS_PREFIX) || path === "/e") {
    const key = path.length > 3 ? path.slice(3) : "";
    if (key.includes("/")) return { route: "unknown", param: "" };
    return { route: "/e/:eventKey", param: decode(key) };
  }
  const fixed = STATIC.get(path);
  if (fixed !== undefined) return { route: fixed, param: "" };
  if (path.startsWith(READ_PREFIX)) {
    const id = path.slice(READ_PREFIX.length);
    if (id.length > 0 && !id.includes("/"))
      return { route: "/v1/events/:internalId", param: decode(id) };
  }
  return { route: "unknown", param: "" };
}

function decode(segment: string): string {
  if (!segment.includes("%")) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Remove a mount prefix (`basePath`) from a request target; `null` when it does not match. */
export function stripBasePath(url: string, basePath: string): string | null {
  if (basePath === "" || basePath === "/") return url;
  if (!url.startsWith(basePath)) return null;
  const rest = url.slice(basePath.length);
  if (rest === "") return "/";
  const c = rest.charCodeAt(0);
  if (c === 47 /* / */) return rest;
  if (c === 63 /* ? */) return `/${rest}`;
  return null;
}

/** Normalize a `basePath` option: leading slash, no trailing slash, "" for the root. */
export function normalizeBasePath(basePath: string | undefined): string {
  if (basePath === undefined || basePath === "" || basePath === "/") return "";
  let p = basePath.startsWith("/") ? basePath : `/${basePath}`;
  while (p.length > 1 && p.endsWith("/")) p = p.slice(0, -1);
  return p;
}
