import type { AnyEventCatalog } from "@evt/schema";
import { EventSendError } from "./errors";

/**
 * Where the client reports what it does. Any subset of the methods; pino, console and most
 * loggers fit. Retries are reported at `debug`, batches that finally failed at `error`.
 */
export interface Logger {
  debug?(message: string, details?: Record<string, unknown>): void;
  warn?(message: string, details?: Record<string, unknown>): void;
  error?(message: string, details?: Record<string, unknown>): void;
}

/** Backoff between attempts: `min(maxDelayMs, baseDelayMs * 2^(attempt-1))`, with jitter. */
export interface RetryOptions {
  /**
   * Delay before the first retry, in milliseconds (jittered between half and all of it).
   * @default 100
   */
  baseDelayMs?: number;
  /**
   * Largest computed backoff delay, in milliseconds.
   * @default 5000
   */
  maxDelayMs?: number;
  /**
   * Largest wait honoured from a `Retry-After` header, in milliseconds; longer values are cut
   * to this.
   * @default 30000
   */
  maxRetryAfterMs?: number;
}

/** Options of {@link EventClient}. All are optional. */
export interface EventClientOptions<C extends AnyEventCatalog | undefined = undefined> {
  /**
   * Base URL of the Event API; events go to `POST <baseUrl>/e/<eventKey>`.
   * @default process.env.EVT_BASE_URL, else "http://127.0.0.1:8288"
   */
  baseUrl?: string;
  /**
   * Event key. Required unless `baseUrl` is a local address (localhost, 127.0.0.0/8, ::1),
   * where the placeholder `dev` is used.
   * @default process.env.EVT_EVENT_KEY
   */
  eventKey?: string;
  /**
   * Branch environment, sent as the `x-inngest-env` header.
   * @default process.env.EVT_ENV (no header when unset)
   */
  env?: string;
  /**
   * The fetch implementation.
   * @default globalThis.fetch
   */
  fetch?: typeof globalThis.fetch;
  /**
   * Time allowed for one HTTP attempt (until the whole body is read), in milliseconds.
   * @default 10000
   */
  timeoutMs?: number;
  /**
   * Attempts per request, the first included (1 disables retries).
   * @default 5
   */
  maxAttempts?: number;
  /** Backoff tuning. */
  retry?: RetryOptions;
  /**
   * Largest request body in bytes (UTF-8 of the JSON array). Larger sends are split.
   * @default 524288 (512 KiB)
   */
  maxRequestBytes?: number;
  /**
   * Most events in one request. Larger sends are split.
   * @default 5000
   */
  maxEventsPerRequest?: number;
  /**
   * A catalog from `defineEvents()` of `@evt/schema`: `send` then accepts only its names, with
   * their `data` types, and validates `data` before sending.
   */
  events?: C;
  /**
   * Where to report retries and failures.
   * @default warnings and errors to `console`, nothing else
   */
  logger?: Logger;
}

export interface ResolvedOptions {
  url: string;
  env: string | undefined;
  fetch: typeof globalThis.fetch;
  timeoutMs: number;
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxRetryAfterMs: number;
  maxRequestBytes: number;
  maxEventsPerRequest: number;
  catalog: AnyEventCatalog | undefined;
  logger: Logger;
}

export const DEFAULT_BASE_URL = "http://127.0.0.1:8288";
export const DEV_EVENT_KEY = "dev";

const defaultLogger: Logger = {
  warn: (message, details) => console.warn(message, details ?? ""),
  error: (message, details) => console.error(message, details ?? ""),
};

/** Reads an environment variable where one exists (Node, Bun, Deno with compat), else undefined. */
export function readEnv(name: string): string | undefined {
  try {
    const value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
      ?.env?.[name];
    return value === undefined || value === "" ? undefined : value;
  } catch {
    // Deno without --allow-env throws on access.
    return undefined;
  }
}

/** True for localhost, *.localhost, 127.0.0.0/8 and ::1: development gateways accept any key. */
export function isLocalHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  if (host === "::1" || host === "0:0:0:0:0:0:0:1") return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function positiveInt(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw new EventSendError(
      "invalid_options",
      `option ${name} is ${String(value)}; allowed: an integer >= ${min}`,
    );
  }
  return value;
}

/** Applies defaults and environment variables; throws an `EventSendError` on bad options. */
export function resolveOptions(
  options: EventClientOptions<AnyEventCatalog | undefined>,
): ResolvedOptions {
  const rawBase = options.baseUrl ?? readEnv("EVT_BASE_URL") ?? DEFAULT_BASE_URL;
  let base: URL;
  try {
    base = new URL(rawBase);
  } catch (cause) {
    throw new EventSendError(
      "invalid_options",
      `option baseUrl is ${JSON.stringify(rawBase)}; allowed: an absolute http(s) URL such as ${DEFAULT_BASE_URL}`,
      { cause },
    );
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new EventSendError(
      "invalid_options",
      `option baseUrl has protocol ${base.protocol}; allowed: http: or https:`,
    );
  }
  let eventKey = options.eventKey ?? readEnv("EVT_EVENT_KEY");
  if (eventKey === undefined || eventKey === "") {
    if (!isLocalHost(base.hostname)) {
      throw new EventSendError(
        "missing_event_key",
        `no event key for ${base.origin}: pass { eventKey } or set EVT_EVENT_KEY (only local addresses such as localhost or 127.0.0.1 work without one)`,
      );
    }
    eventKey = DEV_EVENT_KEY;
  }
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== "function") {
    throw new EventSendError(
      "invalid_options",
      "no fetch implementation: this runtime has no globalThis.fetch; pass { fetch }",
    );
  }
  const path = base.pathname.replace(/\/+$/, "");
  const retry = options.retry ?? {};
  return {
    url: `${base.origin}${path}/e/${encodeURIComponent(eventKey)}`,
    env: options.env ?? readEnv("EVT_ENV"),
    fetch: fetchImpl,
    timeoutMs: positiveInt("timeoutMs", options.timeoutMs, 10_000),
    maxAttempts: positiveInt("maxAttempts", options.maxAttempts, 5),
    baseDelayMs: positiveInt("retry.baseDelayMs", retry.baseDelayMs, 100, 0),
    maxDelayMs: positiveInt("retry.maxDelayMs", retry.maxDelayMs, 5_000, 0),
    maxRetryAfterMs: positiveInt("retry.maxRetryAfterMs", retry.maxRetryAfterMs, 30_000, 0),
    maxRequestBytes: positiveInt("maxRequestBytes", options.maxRequestBytes, 512 * 1024, 3),
    maxEventsPerRequest: positiveInt("maxEventsPerRequest", options.maxEventsPerRequest, 5_000),
    catalog: options.events,
    logger: options.logger ?? defaultLogger,
  };
}
