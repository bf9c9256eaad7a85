import { ServerError } from "./errors.js";

/**
 * Checks the host a request is addressed to. Returns `null` when it is allowed, else the
 * message of the refusal (answer `421 Misdirected Request` with it).
 */
export type HostCheck = (host: string | null | undefined) => string | null;

/** Longest part of a refused `Host` quoted back in the message. */
const SHOWN = 100;
/** Host values whose answer {@link createHostCheck} keeps. */
const HOSTS_KEPT = 64;

/**
 * The host name of a `Host` header value (or of an allowed-hosts entry): lower-case, port and
 * trailing dot removed, IPv6 without brackets. `null` when it is not a host.
 */
function hostName(value: string): { name: string; port: boolean } | null {
  let v = value.trim().toLowerCase();
  if (v === "") return null;
  let port = false;
  if (v.startsWith("[")) {
    const end = v.indexOf("]");
    if (end < 0) return null;
    const rest = v.slice(end + 1);
    if (rest !== "" && !/^:\d{1,5}$/.test(rest)) return null;
    port = rest !== "";
    v = v.slice(1, end);
    return /^[0-9a-f:.]+$/.test(v) ? { name: v, port } : null;
  }
  const colon = v.indexOf(":");
  if (colon >= 0) {
    if (!/^\d{1,5}$/.test(v.slice(colon + 1))) return null;
    port = true;
    v = v.slice(0, colon);
  }
  if (v.endsWith(".")) v = v.slice(0, -1);
  return /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(v) ? { name: v, port } : null;
}

/** How a host name is written in messages: IPv6 in brackets. */
const shown = (name: string) => (name.includes(":") ? `[${name}]` : name);

/**
 * Builds a check of the `Host` a request names against a list of host names, against DNS
 * rebinding: a web page on `evil.example` whose name is made to point at 127.0.0.1 reaches a
 * local server, but its requests still say `Host: evil.example`. Ports are ignored (`Host:
 * localhost:8288` is `localhost`); names are compared case-insensitively, without a trailing
 * dot; IPv6 addresses are given in brackets or bare (`[::1]`, `::1`). `listen({ allowedHosts })`
 * uses it; with the fetch adapter, call it yourself.
 *
 * @param allowedHosts host names or IP addresses without a port, e.g. `["localhost", "127.0.0.1", "[::1]"]`
 * @throws {ServerError} `invalid_options` when the list is empty or an entry is not a host name
 * @example
 * ```ts
 * import { createHostCheck } from "@evt/server";
 * import { createFetchHandler } from "@evt/server/fetch";
 *
 * const checkHost = createHostCheck(["localhost", "127.0.0.1", "[::1]", "evt.example.com"]);
 * const handler = createFetchHandler(api);
 * export default async function serve(request: Request): Promise<Response> {
 *   const refused = checkHost(new URL(request.url).host);
 *   if (refused !== null) return Response.json({ status: 421, error: refused }, { status: 421 });
 *   return handler(request);
 * }
 * ```
 */
export function createHostCheck(allowedHosts: readonly string[]): HostCheck {
  if (!Array.isArray(allowedHosts) || allowedHosts.length === 0) {
    throw new ServerError(
      "invalid_options",
      'allowedHosts must be a non-empty array of host names, e.g. ["localhost", "127.0.0.1", "[::1]"]',
    );
  }
  const allowed = new Set<string>();
  for (const [i, entry] of allowedHosts.entries()) {
    // An entry may name an IPv6 address bare (`::1`); a Host header never does.
    const bracketed =
      typeof entry === "string" && /^[0-9A-Fa-f]*:[0-9A-Fa-f:.]*$/.test(entry)
        ? `[${entry}]`
        : entry;
    const parsed = typeof bracketed === "string" ? hostName(bracketed) : null;
    if (parsed === null || parsed.port) {
      throw new ServerError(
        "invalid_options",
        `allowedHosts[${i}] ${JSON.stringify(String(entry).slice(0, SHOWN))} is not a host name: expected a name or IP address without a port or path, e.g. evt.example.com, 10.0.0.5 or [::1]`,
      );
    }
    allowed.add(parsed.name);
  }
  const list = [...allowed].map(shown).join(", ");
  const decide = (host: string): string | null => {
    const parsed = hostName(host);
    if (parsed !== null && allowed.has(parsed.name)) return null;
    const quoted = JSON.stringify(host.length > SHOWN ? `${host.slice(0, SHOWN)}...` : host);
    return `Host ${quoted} is not served here (allowed hosts: ${list}); the server's operator can allow more names`;
  };
  // Clients send the same few Host values on every request: the answer for each is kept
  // (bounded: a client sending ever new values only refills it), not parsed again.
  const seen = new Map<string, string | null>();
  return (host) => {
    if (host === null || host === undefined || host === "") {
      return `Request has no Host header (allowed hosts: ${list})`;
    }
    const known = seen.get(host);
    if (known !== undefined) return known;
    const answer = decide(host);
    if (host.length <= SHOWN) {
      if (seen.size >= HOSTS_KEPT) seen.clear();
      seen.set(host, answer);
    }
    return answer;
  };
}

/**
 * The host a node:http request is addressed to: the authority of an absolute-form target
 * (`POST http://host/e/k`, where RFC 9112 says to ignore `Host`), else the `Host` header.
 */
export function requestHost(
  url: string | undefined,
  hostHeader: string | undefined,
): string | undefined {
  if (url !== undefined && url.charCodeAt(0) !== 47 /* / */) {
    const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(url);
    if (m) return m[1]!.slice(m[1]!.lastIndexOf("@") + 1);
  }
  return hostHeader;
}
